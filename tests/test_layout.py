"""The code's layout holds: no import cycle between the modules of engine/ and dashboard/, the registries are the
only lists of their members, and what must not import torch does not.

The import graph is read from the source, deferred imports (inside functions) included: two modules that import
each other are a cycle even where deferring one import lets Python resolve it today.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "dashboard")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its source (`from a import b` counts a.b when that is
    a module, else a)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            edges.update(t for t in targets if t in files and t != name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_engine_or_dashboard():
    graph = import_graph()
    assert {"engine.launch.local", "engine.launch.ray_jobs", "engine.metrics.theory", "dashboard.data.store"} <= set(graph)
    assert "engine.launch" in graph["engine.launch.cli"]  # the reader sees package imports
    assert cycles(graph) == []


def test_presets_are_data_that_import_nothing_of_the_engine():
    assert import_graph()["engine.presets"] == set()


def test_what_the_config_and_the_dashboards_first_page_read_does_not_import_torch():
    code = ("import sys; import engine.config, engine.presets, engine.data, engine.losses, engine.penalties, "
            "engine.metrics, engine.launch, dashboard.data, dashboard.figures; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
