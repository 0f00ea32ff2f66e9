"""The static checks of the checkout: ruff with the settings in pyproject.toml over the whole
project, and mypy with its [tool.mypy] settings (``files = ["src"]``).

Both run as subprocesses of the interpreter running the tests (the ``test`` extra installs
them, pinned to a minor release). mypy keeps its cache in the checkout's ``.mypy_cache``
(git-ignored): a clean checkout checks everything once, later runs only what changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file() or not (ROOT / "src").is_dir(),
                                reason="needs the source checkout (pyproject.toml and src/)")


def _check(*args: str) -> str:
    """Run ``python -m <args>`` in the checkout; its output, or a failure showing all of it."""
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"`{' '.join(args)}` exited {proc.returncode}:\n{output}"
    return output


def test_ruff_finds_nothing():
    out = _check("ruff", "check", "--no-cache", ".")
    assert "All checks passed" in out


def test_mypy_finds_nothing():
    out = _check("mypy")
    assert out.startswith("Success: no issues found in"), out
