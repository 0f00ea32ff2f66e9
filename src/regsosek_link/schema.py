"""Column names of the person schema and of the data contracts between stages.

Every stage exchanges plain pandas objects; this module is the one place that names
their columns (see DESIGN.md, "Person schema").
"""

from __future__ import annotations

#: Input columns of the person schema (after a source's column mapping), in order.
PERSON_COLUMNS: tuple[str, ...] = (
    "record_id",
    "nik",
    "no_kk",
    "nama",
    "jenis_kelamin",
    "tempat_lahir",
    "tanggal_lahir",
    "nama_ibu",
    "alamat",
    "rt",
    "rw",
    "kode_wilayah",
    "desa",
    "kecamatan",
    "kabupaten",
    "provinsi",
    "hubungan_keluarga",
)

#: A source column holding place and date of birth together ("tempat, tanggal lahir",
#: ``Jakarta, 12-08-1980``, as on the KTP) may be mapped to this name: it feeds both
#: ``tempat_lahir`` and ``tanggal_lahir`` (each cleaner keeps its own part).
PLACE_AND_DATE = "tempat_tanggal_lahir"

#: Columns that identify a raw or clean record in every stage.
KEY_COLUMNS: tuple[str, str] = ("source", "record_id")

#: Raw records: ``source`` + every person column, all ``string`` dtype (missing = <NA>).
RAW_COLUMNS: tuple[str, ...] = ("source",) + PERSON_COLUMNS

#: Golden fields of the registry (one value per person, with the source it came from).
GOLDEN_FIELDS: tuple[str, ...] = (
    "nik",
    "no_kk",
    "nama",
    "jenis_kelamin",
    "tanggal_lahir",
    "tempat_lahir",
    "nama_ibu",
    "alamat",
    "rt",
    "rw",
    "kode_wilayah",
)

#: Golden fields of the registry: the schema's plus the relation to the family head.
REGISTRY_FIELDS: tuple[str, ...] = GOLDEN_FIELDS + ("hubungan_keluarga",)

#: Columns of the candidate pairs table: integer row positions into the clean records.
PAIR_COLUMNS: tuple[str, str] = ("left", "right")

#: Columns of the membership output.
MEMBERSHIP_COLUMNS: tuple[str, ...] = ("source", "record_id", "person_id", "match_probability")
