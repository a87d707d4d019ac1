"""The package's shape: imports run one way, no module reaches into another's private names.

Every import counts, including the ones inside functions: an import deferred to call time still ties the two
modules together, and a circle hidden that way is still a circle.
"""
from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_tinyml"
ROOT_NAME = "jupyter_tinyml"

# Lower rooms never import higher ones: magics/widgets -> eval -> stages/hardware -> firmware -> model -> boards/config ->
# notebook/errors. A module's layer is its room (its first name below the package).
LAYERS = {
    "__init__": 8, "magics": 7, "widgets": 7,
    "eval": 6,
    "stages": 5, "hardware": 5,
    "firmware": 4,
    "model": 3,
    "boards": 2, "budget": 2, "config": 2,
    "notebook": 1, "errors": 0, "native_logs": 0,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in the file, resolved to absolute names."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.startswith(ROOT_NAME)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith(ROOT_NAME):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in known:  # `from . import llm` imports the module llm
                    found.append((submodule, [], node.lineno))
                else:
                    found.append((target, [alias.name], node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {name: set() for name in mods}
    private: list[str] = []
    for name, path in mods.items():
        for target, names, line in imports_of(name, path, known):
            if target not in known or target == name:
                continue
            graph[name].add(target)
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    private.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}.{imported}")
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_package_has_no_import_circles() -> None:
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_no_module_imports_another_modules_private_names() -> None:
    _, private = import_graph()
    assert private == []


def test_imports_run_one_way_between_rooms() -> None:
    graph, _ = import_graph()
    upward = []
    for source, targets in graph.items():
        for target in targets:
            if room(source) == room(target):
                continue
            if LAYERS[room(target)] >= LAYERS[room(source)]:
                upward.append(f"{source} -> {target}")
    assert sorted(upward) == []


def test_every_room_has_a_layer() -> None:
    rooms = {room(name) for name in modules()}
    assert rooms <= set(LAYERS), rooms - set(LAYERS)


def test_the_checker_finds_a_circle_and_a_private_import(tmp_path: Path) -> None:
    """The walk itself: a planted circle through a function-level import and a private import are both seen."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    package = tmp_path / ROOT_NAME
    package.mkdir()
    (package / "one.py").write_text("def f():\n    from .two import _hidden\n")
    (package / "two.py").write_text("_hidden = 1\n")
    found = imports_of(f"{ROOT_NAME}.one", package / "one.py", {f"{ROOT_NAME}.one", f"{ROOT_NAME}.two"})
    assert found == [(f"{ROOT_NAME}.two", ["_hidden"], 2)]


def test_requires_python_matches_what_the_code_imports() -> None:
    """tomllib arrived in Python 3.11; a package that imports it cannot promise 3.10."""
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    uses_tomllib = any("import tomllib" in path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py"))
    if uses_tomllib:
        assert project["requires-python"] == ">=3.11"


@pytest.mark.parametrize("path", ["README.md"])
def test_readme_points_at_nothing_outside_the_repository(path: str) -> None:
    text = (PACKAGE.parent / path).read_text(encoding="utf-8")
    assert "../" not in text
