"""The documentation runs: the site builds with warnings as errors, and every code block of
the docs and the README is executed, page by page, in a temporary folder.

A page becomes one Python script: ``python`` blocks as they are (sharing one namespace),
``bash`` blocks through ``bash -euo pipefail``, and a block after ``<!-- file: NAME -->``
written to that file. A block after ``<!-- skip: REASON -->`` is not run (installing
packages); the reason is on the page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
_BLOCK = re.compile(r"(?:<!--\s*(?P<kind>file|skip):\s*(?P<arg>[^>]*?)\s*-->\s*\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)^```",
                    re.DOTALL | re.MULTILINE)


def blocks(page: Path) -> list[tuple[str, str, str, str]]:
    """(marker kind, marker argument, language, code) of each fenced block of a page."""
    return [(m["kind"] or "", m["arg"] or "", m["lang"], m["code"]) for m in _BLOCK.finditer(page.read_text())]


def script(page: Path) -> str:
    """The page as one Python script."""
    out = ["import subprocess", "from pathlib import Path"]
    for kind, arg, lang, code in blocks(page):
        if kind == "skip":
            continue
        if kind == "file":
            out.append(f"Path({arg!r}).write_text({code!r})")
        elif lang == "python":
            out.append(code)
        elif lang == "bash":
            out.append(f"subprocess.run(['bash', '-euo', 'pipefail', '-c', {code!r}], check=True)")
        elif lang not in ("yaml", "text", "toml", "json", ""):
            raise AssertionError(f"{page.name}: a {lang!r} block is neither run nor marked")
        else:
            raise AssertionError(f"{page.name}: a {lang or 'plain'} block without <!-- file: NAME --> "
                                 "or <!-- skip: REASON -->: {code[:60]!r}")
    return "\n".join(out)


def test_every_block_is_run_or_says_why_not():
    for page in PAGES:
        for kind, arg, lang, code in blocks(page):
            assert kind in ("file", "skip") or lang in ("python", "bash"), (page.name, code[:80])
            assert kind != "skip" or arg, (page.name, "a skip marker gives its reason")
    assert sum(len(blocks(p)) for p in PAGES) > 20


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_code_blocks_run(page, tmp_path):
    code = script(page)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{page.name}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    done = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "--truth" in cli and "withdraw" in cli  # generated from the parser
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "Linker" in api and "match_probability" in (tmp_path / "site" / "index.html").read_text() + api
