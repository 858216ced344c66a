"""The package's shape: sub-packages import each other only in the direction of the data flow.

Every import of every module is read from its source (``ast``), function-level (lazy) imports
included.  The rules: sources reach the core only through the seam and the request and event
types; synthesis, voices and sinks know nothing of sources or the core; quality tools and the
core know nothing of sources; nothing but the command line imports the command line or the
benchmarks; the shared base modules import only each other and three value modules, the package itself only
the Python API it exports; and no
module imports itself through others (no cycles).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = "voice_daemon"
BASE = {"errors", "files", "audio", "settings", "watching", "systemd", "version"}
VALUES = {"synthesis.types", "synthesis.text", "voices.names"}  # importable from the base modules
SEAM = {"core.port", "core.seam", "core.request", "core.events"}
ROOT = PACKAGE  # the package itself: it exports the whole Python API
CLOSED = {  # layer -> layers it may not import
    "sources": {"core", "synthesis", "voices", "sinks", "quality", "app", "api", "cli", "bench", ROOT},
    "synthesis": {"sources", "core", "quality", "app", "api", "cli", "bench", ROOT},
    "voices": {"sources", "core", "quality", "app", "api", "cli", "bench", ROOT},
    "sinks": {"sources", "core", "quality", "app", "api", "cli", "bench", ROOT},
    "quality": {"sources", "core", "app", "api", "cli", "bench", ROOT},
    "core": {"sources", "app", "api", "cli", "bench", ROOT},
    "api": {"sources", "app", "cli", "bench", ROOT},
    "app": {"cli", "bench", ROOT},
    "bench": {"cli", ROOT},
    "base": {
        "sources",
        "core",
        "synthesis",
        "voices",
        "sinks",
        "quality",
        "app",
        "api",
        "cli",
        "bench",
        ROOT,
    },
    PACKAGE: {  # exports the API
        "sources",
        "core",
        "synthesis",
        "voices",
        "sinks",
        "quality",
        "app",
        "cli",
        "bench",
    },
}


def modules(root: Path) -> dict[str, Path]:
    """Module names (relative to the package, '' for its ``__init__``) and their files."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or PACKAGE] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules that ``path`` (module ``name``) imports, anywhere in its code."""
    package = name.split(".") if path.name == "__init__.py" and name != PACKAGE else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(_inside(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - node.level + 1] if name != PACKAGE else []
                base = ".".join([*prefix, base] if base else prefix)
            else:
                base = _inside(base)
                if not base:  # another package's module: `from importlib.metadata import version`
                    continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base and base != PACKAGE else alias.name
                targets.add(candidate if candidate in known else base)
    return {target for target in targets if target in known and target != name}


def _inside(dotted: str) -> str:
    if dotted == PACKAGE:
        return PACKAGE
    return dotted.removeprefix(f"{PACKAGE}.") if dotted.startswith(f"{PACKAGE}.") else ""


def layer(module: str) -> str:
    if module == PACKAGE:
        return PACKAGE
    top = module.split(".")[0]
    if module in BASE or top in BASE:
        return "base"
    return "cli" if top == "__main__" else top


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a rule, as 'importer -> imported (why)'."""
    found = []
    for importer, targets in sorted(graph.items()):
        own = layer(importer)
        for target in sorted(targets):
            other = layer(target)
            if own == other:
                continue
            if own == "sources" and target in SEAM:
                continue
            if own == "base" and target in VALUES:
                continue
            if other in CLOSED.get(own, set()):
                found.append(f"{importer} -> {target} ({own} may not import {other})")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The imports between folders (sub-packages; a module of the package root is one of its own)."""
    folders: dict[str, set[str]] = {}
    for importer, targets in graph.items():
        for target in targets:
            if (own := importer.split(".")[0]) != (other := target.split(".")[0]):
                folders.setdefault(own, set()).add(other)
    return folders


def graph_of(root: Path) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(path, name, set(found)) for name, path in found.items()}


def test_the_package_keeps_its_layers_and_has_no_cycles() -> None:
    graph = graph_of(REPO / PACKAGE)
    assert {"sources.dropfolder", "sources.mqtt.bridge", "core.seam", "core.worker"} <= set(graph)
    assert "core.port" in graph["sources.dropfolder"], "the checker must see a source's imports"
    assert violations(graph) == []
    assert cycles(graph) == []
    assert cycles(folder_graph(graph)) == [], "a loop between folders"


def test_the_package_root_holds_at_most_eleven_modules() -> None:
    assert len(list((REPO / PACKAGE).glob("*.py"))) <= 11


@pytest.mark.parametrize(
    ("module", "added", "expected"),
    [
        ("sources/dropfolder.py", "from voice_daemon.core.spool import Spool", "sources may not import core"),
        ("sources/mqtt/bridge.py", "from ...core import worker", "sources may not import core"),
        (
            "synthesis/engine.py",
            "    from voice_daemon.core.request import make_request",
            "synthesis may not import core",
        ),
        ("voices/registry.py", "import voice_daemon.sources.dropfolder", "voices may not import sources"),
        ("core/worker.py", "from voice_daemon.cli.common import EXIT_OK", "core may not import cli"),
        ("app.py", "from voice_daemon.bench import run", "app may not import bench"),
        (
            "sources/http/page.py",
            "from voice_daemon import __version__",
            "sources may not import voice_daemon",
        ),
        ("core/seam.py", "import voice_daemon", "core may not import voice_daemon"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path: Path, module: str, added: str, expected: str) -> None:
    """The checker itself: a copy of the package with one forbidden import added fails it."""
    copy = _copy_with(tmp_path, module, added)
    assert any(expected in problem for problem in violations(graph_of(copy)))


def test_a_loop_between_folders_is_caught(tmp_path: Path) -> None:
    """settings (a base module) reads synthesis' value modules: synthesis reading settings is a loop."""
    copy = _copy_with(tmp_path, "synthesis/loader.py", "from voice_daemon.settings import ModelSettings")
    graph = graph_of(copy)
    assert cycles(graph) == [] and violations(graph) == []  # no loop between modules, no layer broken
    assert any({"settings", "synthesis"} <= set(loop) for loop in cycles(folder_graph(graph)))


def _copy_with(tmp_path: Path, module: str, added: str) -> Path:
    """A copy of the package with ``added`` (an import) in a function at the end of ``module``."""
    copy = tmp_path / PACKAGE
    for path in (REPO / PACKAGE).rglob("*.py"):
        target = copy / path.relative_to(REPO / PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    path = copy / module
    text = path.read_text(encoding="utf-8")
    body = f"\n\ndef _added() -> None:\n{added if added.startswith(' ') else '    ' + added}\n"
    path.write_text(text + body, encoding="utf-8")
    return copy


def test_a_cycle_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / PACKAGE
    (copy / "core").mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    (copy / "core" / "__init__.py").write_text("")
    (copy / "core" / "a.py").write_text("from voice_daemon.core import b\n")
    (copy / "core" / "b.py").write_text("def f():\n    from voice_daemon.core.a import x\n")
    assert cycles(graph_of(copy)) == [["core.a", "core.b"]]
