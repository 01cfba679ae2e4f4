"""The package layout holds: no import cycle among authserver's modules, and no authserver import hidden inside a
function to dodge one (an import inside a function is a sign the split is wrong; lazy imports of optional
third-party packages are fine, and are not looked at here).

The graph has one edge per import statement: ``from .x import y`` is an edge to ``x.y`` when that is a module, else
to ``x``. The interpreter also runs a package's ``__init__`` before its modules; that is load order, not a
dependency of the module on its package, so it is no edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "authserver"


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The authserver modules one import statement names (none for a third-party import)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names]
    targets = []
    for name in names:
        if name.split(".")[0] != "authserver":
            continue
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        targets.append(name)
    return targets


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, (path, is_package) in MODULES.items():
        graph[module] = {
            target
            for node in ast.walk(_parse(path))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in _targets(module, is_package, node)
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def imports_inside_functions() -> list[str]:
    found = []
    for module, (path, is_package) in MODULES.items():
        for function in ast.walk(_parse(path)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and _targets(module, is_package, node):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} in {function.name}()")
    return sorted(set(found))


def test_no_module_of_authserver_is_imported_inside_a_function():
    assert imports_inside_functions() == []


def test_the_modules_of_authserver_import_each_other_without_a_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_checks_see_a_cycle_and_an_import_inside_a_function():
    """The two checks above can fail: a made-up cycle is found, and the graph holds the edges it should."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "authserver.extensions" in graph["authserver.unit_of_work"]  # ``from .extensions import db``
    assert "authserver.cli.commands" in graph["authserver"]  # create_app registers the CLI
    tree = ast.parse("def f():\n    from .extensions import db\n")
    node = tree.body[0].body[0]
    assert _targets("authserver.unit_of_work", False, node) == ["authserver.extensions"]
    assert _targets("authserver.unit_of_work", False, ast.parse("import redis").body[0]) == []
