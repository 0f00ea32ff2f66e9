"""Standardise stage: raw records -> clean records.

Each cleaner works on pandas Series, is vectorised (or maps distinct values only), keeps the
index and returns machine-readable status columns next to the cleaned values.
"""

from ._address import clean_address, clean_place, parse_rt_rw
from ._dates import (
    DATE_STATUSES,
    date_status_counts,
    month_day_counts,
    parse_date,
    unused_placeholders,
)
from ._names import clean_name
from ._nik import NIK_STATUSES, clean_nik
from ._phonetic import phonetic_key
from ._records import CLEAN_COLUMNS, standardise
from ._regions import REGION_STATUSES, resolve_region
from ._relation import RELATIONS, clean_relation
from ._sex import clean_sex

__all__ = [
    "CLEAN_COLUMNS",
    "DATE_STATUSES",
    "NIK_STATUSES",
    "REGION_STATUSES",
    "RELATIONS",
    "clean_address",
    "clean_name",
    "clean_nik",
    "clean_place",
    "clean_relation",
    "clean_sex",
    "date_status_counts",
    "month_day_counts",
    "parse_date",
    "parse_rt_rw",
    "phonetic_key",
    "resolve_region",
    "standardise",
    "unused_placeholders",
]
