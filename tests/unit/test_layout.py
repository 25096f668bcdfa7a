"""The shape of lib/: no import cycle between modules or packages, and each package
imports only the packages below it (the README's Layout section says the same)."""

import ast
from pathlib import Path

from lib.settings import PROJECT_ROOT

LIB = PROJECT_ROOT / "lib"
# What each part of lib/ may import, bottom up. A new arrow means a design decision:
# change this table and the README's Layout section together.
FOUNDATION = {"settings", "redact", "storage"}
ALLOWED = {
    "settings": set(),
    "redact": {"settings"},
    "storage": set(),
    "model": FOUNDATION,
    "registry": FOUNDATION | {"model"},
    "training": FOUNDATION | {"model", "registry"},
    "monitoring": FOUNDATION | {"model"},
    "serving": FOUNDATION | {"model", "monitoring", "registry"},
    "model_loader": FOUNDATION | {"model", "serving"},
    "retraining": FOUNDATION | {"model", "registry", "training", "model_loader", "monitoring"},
    "business": FOUNDATION | {"model", "serving", "training"},
    "batch": FOUNDATION | {"model", "serving", "model_loader"},
    "server": FOUNDATION | {"model", "monitoring", "model_loader", "registry", "retraining"},
    "api": FOUNDATION
    | {"model", "registry", "training", "monitoring", "serving", "model_loader", "retraining", "business", "server"},
    "ui": FOUNDATION
    | {"model", "registry", "training", "monitoring", "serving", "model_loader", "retraining", "business", "server"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the lib modules it imports anywhere in its body (lazy imports included)."""
    modules = {module_name(path): path for path in LIB.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    parts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module == "lib":
            continue
        parts.setdefault(part(module), set()).update(part(t) for t in targets if part(t) != part(module))
    return parts


def test_no_module_of_lib_imports_itself_back():
    assert cycles(import_graph()) == []


def test_no_package_of_lib_imports_itself_back_through_another():
    assert cycles(package_graph(import_graph())) == []


def test_each_package_imports_only_what_sits_below_it():
    parts = package_graph(import_graph())
    assert set(parts) == set(ALLOWED), "a package was added or removed: place it in ALLOWED and the README"
    unexpected = {name: sorted(targets - ALLOWED[name]) for name, targets in parts.items() if targets - ALLOWED[name]}
    assert unexpected == {}


def test_the_checks_see_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "lib.model.bundle" in graph["lib.registry.local"]  # lazy and top-level imports are both read
