"""The house's architecture, checked on the source: the import graph of the package has no
cycle (imports inside functions count too), the arrows run composer -> stages, the store
imports no stage, and the scoring formula has one home."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PKG = Path(__file__).resolve().parents[1] / "src" / "regsosek_link"
#: Modules of the stages and what they build on; none may import the composer or the store.
STAGES = ("ingest", "standardise", "block", "compare", "classify", "cluster", "ids", "registry", "review",
          "config", "schema", "model_io", "_codes", "_threads", "_arrays", "_spec", "errors")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports, anywhere in it but under ``if TYPE_CHECKING``."""
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            for t in [target, *names]:
                if t.startswith("regsosek_link"):
                    out.add(t)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("regsosek_link")}
    return out


def _graph() -> nx.DiGraph:
    files = {_module(p): p for p in PKG.rglob("*.py")}
    g = nx.DiGraph()
    g.add_nodes_from(files)
    for name, path in files.items():
        for target in _imports(path):
            if target in files and target != name and not (target == "regsosek_link" and name != target):
                # importing a sibling runs the package's __init__ first: that is not an arrow
                if files[target].name == "__init__.py" and name.startswith(target + "."):
                    continue
                g.add_edge(name, target)
    return g


def test_the_import_graph_has_no_cycle():
    g = _graph()
    assert g.number_of_edges() > 50
    cycles = list(nx.simple_cycles(g))
    assert cycles == []


def test_stages_import_neither_the_composer_nor_the_store():
    g = _graph()
    bad = []
    for node in g:
        short = node.removeprefix("regsosek_link.").split(".")[0]
        if short in STAGES:
            for target in g.successors(node):
                t = target.removeprefix("regsosek_link.").split(".")[0]
                if t in ("run", "pipeline", "store", "cli", "report", "charts", "explain"):
                    bad.append((node, target))
    assert bad == []


def test_the_store_only_stores():
    targets = {t.removeprefix("regsosek_link.") for t in _graph().successors("regsosek_link.store")}
    # _optional: imports duckdb; _lock: the writer lock, shared with the Spark engine's store
    assert targets <= {"errors", "review", "model_io", "_optional", "_lock"}, targets


def test_one_home_for_the_probability_formula():
    homes = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if "np.exp2(-" in p.read_text())
    assert homes == ["classify.py"]
