"""Optional packages: imported where a feature needs them, with an error naming the extra.

The core install (pandas, numpy, scikit-learn, jellyfish, recordlinkage and the libraries
the stages need) links records and writes Parquet/CSV. The registry store, the charts and
the report, and Excel files each need one more package, installed by an extra::

    pip install 'regsosek-link[store]'    # DuckDB: run --store, update, withdraw, review, export
    pip install 'regsosek-link[report]'   # matplotlib: charts, explain figures, report.html
    pip install 'regsosek-link[excel]'    # openpyxl: .xlsx sources and review files
    pip install 'regsosek-link[all]'      # all of them (and pyreadstat for .sav sources)
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import RegsosekLinkError

__all__ = ["MissingDependencyError", "require"]

#: Distribution name of each optional module, where it differs from the module name.
_PACKAGE = {"duckdb": "duckdb", "matplotlib": "matplotlib", "openpyxl": "openpyxl"}


class MissingDependencyError(RegsosekLinkError, ImportError):
    """An optional package that a feature needs is not installed; the message names the
    extra that installs it."""


def require(module: str, *, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingDependencyError` saying how to install it.

    Parameters
    ----------
    module : str
        The module to import (e.g. ``"duckdb"``).
    extra : str
        The ``regsosek-link`` extra that installs it (e.g. ``"store"``).
    what : str
        The feature that needs it, as said to the user (e.g. ``"the registry store"``).

    Returns
    -------
    module
        The imported module.

    Examples
    --------
    >>> require("json", extra="none", what="this example").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = _PACKAGE.get(module.split(".")[0], module.split(".")[0])
        raise MissingDependencyError(
            f"{what} needs the optional package {package}, which is not installed; "
            f"install it with: pip install 'regsosek-link[{extra}]'"
        ) from exc
