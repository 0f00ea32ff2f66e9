"""The processing record of a run, for a data protection impact assessment (UU PDP Art. 34).

A run that writes its outputs also writes ``processing_record.json`` and
``processing_record.md`` beside them: which fields of which source were used, in clear or
encoded form (and how encoded), for what purpose (blocking, comparison, golden value,
households), how person IDs are made, and where the outputs went and who can read them.
It is made from the run's config and records only; it holds no personal data and no key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..outputs import EXPLORER_FILE
from ..schema import GOLDEN_FIELDS, PERSON_COLUMNS

__all__ = ["ENCODING_COLUMN", "processing_record"]

#: Column of an encoded record naming its encoding (scheme version and key check value).
ENCODING_COLUMN = "encoding"

PURPOSE = ("record linkage and deduplication of person records from several sources into one population "
           "registry with stable person IDs (one data, 'satu data')")

#: Clean or encoded columns derived from a person field other than by its own name's prefix.
_DERIVED = {"tahun_lahir": "tanggal_lahir", "kk_status": "no_kk", "kk_valid": "no_kk", "kode_prov": "kode_wilayah",
            "kode_kab": "kode_wilayah", "kode_kec": "kode_wilayah", "kode_desa": "kode_wilayah",
            "no_rumah": "alamat"}


def _field_of(column: str) -> str | None:
    """The person-schema field a clean/encoded column is made from."""
    if column in _DERIVED:
        return _DERIVED[column]
    for f in sorted(PERSON_COLUMNS, key=len, reverse=True):
        if column == f or column.startswith(f + "_"):
            return f
    return None


def _columns_of(spec: Any) -> tuple[str, ...]:
    cols = tuple(getattr(spec, "columns", ()))
    return cols + tuple(getattr(spec, "ignore_when_equal", ()))


def _blocking_key_fields(columns: Sequence[str]) -> dict[str, list[str]]:
    """Encoded blocking columns (``bk_<i>``, the keys of the default rule ``i``) -> the person
    fields their keys are made from."""
    from ..config import default_blocking_rules

    out = {}
    rules = default_blocking_rules()
    for c in columns:
        if c.startswith("bk_") and c[3:].isdigit() and int(c[3:]) < len(rules):
            fields = list(dict.fromkeys(f for col in rules[int(c[3:])].columns if (f := _field_of(col))))
            out[f"tokens({c})"] = out[c] = fields
    return out


def _uses(cfg: Any, records_columns: Sequence[str], blocking_fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """Field -> purposes it serves in this run."""
    uses: dict[str, list[str]] = {}

    def add(field: str | None, what: str) -> None:
        if field and what not in uses.setdefault(field, []):
            uses[field].append(what)

    for rule in cfg.blocking_rules:
        for col in rule.columns:
            for f in blocking_fields.get(col, [_field_of(col)]):
                add(f, f"blocking ({rule.label})")
    for comp in cfg.comparisons:
        for col in _columns_of(comp):
            add(_field_of(col), f"comparison ({comp.name})")
    for f in GOLDEN_FIELDS:
        if f in records_columns:
            add(f, "golden value in the registry")
    if "no_kk" in records_columns:
        add("no_kk", "households")
    return uses


def processing_record(result: Any, output_dir: str | Path, files: Sequence[str]) -> dict[str, str]:
    """``processing_record.json`` and ``.md`` of a run: file name -> text.

    Parameters
    ----------
    result : LinkResult
        The run (its config, records and membership).
    output_dir : str or Path
        Where the outputs go.
    files : sequence of str
        The output files written beside it.
    """
    cfg, records = result.config, result.records
    cols = list(records.columns)
    encoded = ENCODING_COLUMN in cols
    blocking_fields: dict[str, list[str]] = {}
    if encoded:
        blocking_fields = _blocking_key_fields(cols)
    uses = _uses(cfg, cols, blocking_fields)
    counts = result.membership.groupby("source", sort=True).size()
    sources = []
    for s in cfg.sources:
        if s.name not in counts.index:
            continue
        if encoded:
            enc = records.loc[records["source"] == s.name, ENCODING_COLUMN].dropna().unique().tolist()
            fields = sorted({f for c in cols if (f := _field_of(c)) and f != "record_id"} | {
                f for fs in blocking_fields.values() for f in fs})
            entries = [{"field": f, "form": "encoded", "encoding": "; ".join(map(str, enc)),
                        "used_for": uses.get(f, ["carried, not used"])} for f in fields]
        else:
            entries = [{"field": f, "source_column": own, "form": "clear",
                        "used_for": uses.get(f, ["carried, not used"]) if f != "record_id" else
                        ["record key (membership, links)"]}
                       for own, f in s.mapped()]
        sources.append({"source": s.name, "path": s.path, "n_records": int(counts[s.name]), "fields": entries})
    doc = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "purpose": PURPOSE,
        "form": "encoded (privacy-preserving record linkage: keyed hashes and Bloom filters)" if encoded else "clear",
        "sources": sources,
        "person_ids": ("keyed hash under the registry's secret salt (not recomputable from record ids)"
                       if cfg.person_id_salt else "hash of the first record key source|record_id (recomputable "
                       "by anyone holding the source lists; set person_id_salt to prevent it)"),
        "outputs": {"directory": str(Path(output_dir).resolve()), "files": list(files) + [
            "processing_record.json", "processing_record.md"],
            "access": "owner only (folder 0700, files 0600)" if cfg.owner_only_outputs else
            "default file permissions (the process umask)"},
        "threshold": cfg.threshold,
    }
    if EXPLORER_FILE in files:  # the one output that shows records field by field
        form = "encoded" if encoded else "in clear"
        doc["outputs"]["record_level"] = {EXPLORER_FILE: (
            f"interactive page for analysts with the records ({form}: every person field) of at "
            f"most {cfg.report_explorer_persons:,} persons and their links; written because the "
            "config sets report_explorer")}
    return {"processing_record.json": json.dumps(doc, indent=2, ensure_ascii=False),
            "processing_record.md": _markdown(doc)}


def _markdown(doc: dict[str, Any]) -> str:
    lines = ["# Processing record", "", f"Created {doc['created']}.", "", f"**Purpose**: {doc['purpose']}.", "",
             f"**Form of the data linked**: {doc['form']}.", "", f"**Person IDs**: {doc['person_ids']}.", "",
             "## Sources and fields", ""]
    for s in doc["sources"]:
        lines += [f"### {s['source']} ({s['n_records']:,} records)", ""]
        if s.get("path"):
            lines += [f"Read from `{s['path']}`.", ""]
        lines += ["| field | form | used for |", "|---|---|---|"]
        for e in s["fields"]:
            form = e["form"] + (f" ({e['encoding']})" if e.get("encoding") else "")
            own = f" (column `{e['source_column']}`)" if e.get("source_column") else ""
            lines.append(f"| {e['field']}{own} | {form} | {'; '.join(e['used_for'])} |")
        lines.append("")
    out = doc["outputs"]
    lines += ["## Outputs", "", f"Folder `{out['directory']}`, access: {out['access']}.", ""]
    record_level = out.get("record_level", {})
    lines += [f"- `{f}`" + (f": {record_level[f]}" if f in record_level else "")
              for f in out["files"]]
    return "\n".join(lines) + "\n"
