"""The package's shape, read from the source with ``ast``: the protocol core is
pure, no module imports itself back, configuration imports no adapter, and no
text points outside the repository (docs/development.md, "Package layout")."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import flask_clustershazbot

PACKAGE = "flask_clustershazbot"
# The package under test, wherever it is imported from (a checkout, or an
# installed wheel when the tests run from the unpacked sdist).
PACKAGE_DIR = Path(flask_clustershazbot.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent

#: What protocol/ may not import: frameworks, I/O, threads, clocks, processes.
IMPURE = {
    "flask", "werkzeug", "requests", "urllib3", "apscheduler", "threading", "sqlite3", "socket", "time", "os",
    "subprocess",
}

#: What config.py may not import, even indirectly: the adapters it configures.
ADAPTERS = (
    f"{PACKAGE}.masterlist.file", f"{PACKAGE}.masterlist.http", f"{PACKAGE}.masterlist.s3",
    f"{PACKAGE}.masterlist.dns",
    f"{PACKAGE}.masterlist.backend", f"{PACKAGE}.state", f"{PACKAGE}.web", f"{PACKAGE}.transport",
    f"{PACKAGE}.node",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (functions too), except under
    ``if TYPE_CHECKING:``: those never run, so they make no cycle."""
    if isinstance(tree, ast.If) and is_type_checking(tree.test):
        for node in tree.orelse:
            yield from import_nodes(node)
        return
    if isinstance(tree, (ast.Import, ast.ImportFrom)):
        yield tree
    for child in ast.iter_child_nodes(tree):
        yield from import_nodes(child)


def imports_of(name: str) -> set[str]:
    """Dotted names a module imports: absolute names as written, relative ones
    resolved, and ``from pkg import sub`` as ``pkg.sub`` when ``sub`` is a module."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        submodules = {f"{target}.{alias.name}" for alias in node.names} & modules().keys()
        found.update(submodules)
        # ``from . import signals`` needs only the submodule: its package is
        # already imported by then, whatever state its __init__ is in.
        if len(submodules) < len(node.names):
            found.add(target)
    return found


def internal_imports(name: str) -> set[str]:
    """The package's own modules ``name`` imports (a name imported from a
    module counts as that module)."""
    result = set()
    for target in imports_of(name):
        while target and target not in modules():
            target = target.rpartition(".")[0]
        if target.startswith(PACKAGE) and target != name:
            result.add(target)
    return result


def runs_on_import(name: str) -> set[str]:
    """Every package module that importing ``name`` executes: its imports,
    theirs, and the ``__init__`` of each package on the way."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parents = [current.rsplit(".", depth)[0] for depth in range(1, current.count("."))]
        todo.extend([*internal_imports(current), *parents])
    return seen - {name}


def import_graph() -> dict[str, list[str]]:
    return {name: sorted(internal_imports(name)) for name in modules()}


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every import cycle in ``graph`` (each strongly connected group of
    modules, by Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return groups


def test_the_module_list_is_read_from_this_checkout() -> None:
    names = modules()
    assert f"{PACKAGE}.protocol.membership" in names and f"{PACKAGE}.config" in names
    assert f"{PACKAGE}.masterlist.location" in internal_imports(f"{PACKAGE}.config")


def test_protocol_imports_nothing_impure() -> None:
    problems = []
    for name in modules():
        if not name.startswith(f"{PACKAGE}.protocol"):
            continue
        for target in sorted(imports_of(name)):
            outside = target.startswith(f"{PACKAGE}.") and not target.startswith(f"{PACKAGE}.protocol")
            if target.split(".")[0] in IMPURE or outside or target == PACKAGE:
                problems.append(f"{name} imports {target}")
    assert problems == []


def test_the_graph_has_known_edges_and_the_cycle_finder_finds_cycles() -> None:
    # The check below is only as good as the graph and the search.
    assert f"{PACKAGE}.config" in internal_imports(f"{PACKAGE}.extension")
    assert f"{PACKAGE}.protocol.model" in runs_on_import(f"{PACKAGE}.protocol.membership")
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a", "d2"], "d2": ["d"], "e": []}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["d", "d2"]]


def test_no_import_cycles_even_through_function_level_imports() -> None:
    assert cycles(import_graph()) == []


def test_config_imports_no_adapter_even_indirectly() -> None:
    executed = runs_on_import(f"{PACKAGE}.config")
    adapters = sorted(name for name in executed if any(name == a or name.startswith(a + ".") for a in ADAPTERS))
    assert adapters == []


#: Names of the contract outside this repository, spelled in pieces so that
#: this file does not cite it either: code and docs cite docs/protocol.md.
OUTSIDE_DOCUMENTS = ("PROTOCOL" + ".md", ".." + "/shared")


def test_nothing_points_at_a_document_outside_the_repository() -> None:
    checkout = Path(__file__).resolve().parents[2]  # docs/ and README.md, where present
    texts = [*PACKAGE_DIR.rglob("*"), *(checkout / "docs").rglob("*"), checkout / "README.md"]
    offenders = []
    for path in texts:
        if not path.is_file() or "_build" in path.parts or path.suffix in {".png", ".pyc"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for needle in OUTSIDE_DOCUMENTS:
            if needle in text:
                offenders.append(f"{path}: {needle}")
    assert offenders == []
