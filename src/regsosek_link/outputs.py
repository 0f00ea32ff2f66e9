"""Output files of a run (placeholder until the Arrow writers land: plain pandas writers,
each file written under a temporary name and renamed into place)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .errors import ConfigError

__all__ = ["write_tables"]


def write_tables(tables: Mapping[str, pd.DataFrame], output_dir: str | Path, *,
                 formats: tuple[str, ...] = ("parquet",), texts: Mapping[str, str] | None = None) -> dict[str, Path]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    bad = sorted(set(formats) - {"parquet", "csv"})
    if bad:
        raise ConfigError(f"unknown output format(s) {bad}; use 'parquet' or 'csv'")
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            tmp = out / f".{name}.{fmt}.tmp-{os.getpid()}"
            if fmt == "parquet":
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_csv(tmp, index=False)
            os.replace(tmp, path)
            written[f"{name}.{fmt}"] = path
    for name, text in (texts or {}).items():
        path = out / name
        tmp = out / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written[name] = path
    return written
