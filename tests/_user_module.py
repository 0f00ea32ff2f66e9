"""A user's own module for extension tests (not a test module): written to a temporary
folder and imported from there, as a package outside regsosek_link would be."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def user_module(name: str, text: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """Yield module ``name`` made of ``text`` in ``folder`` (put on ``sys.path``); forget it after."""
    (folder / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop(name, None)
    yield importlib.import_module(name)
    sys.modules.pop(name, None)
