"""No import circles in ``tokkit`` or ``tokkit_cli``, counting function-level imports too.

The graph is read from the source (ast), not from what a run happens to import: every ``import`` and
``from ... import`` anywhere in a module (top level, inside functions, under ``if TYPE_CHECKING``) is an
edge. Relative imports are resolved against the importing module's package; ``from pkg import name``
points at ``pkg/name.py`` when ``name`` is a submodule, else at ``pkg/__init__.py``.

Package ``__init__`` edges: importing ``a.b.c`` executes ``a/__init__.py`` and ``a/b/__init__.py`` first,
so the graph counts an edge to each of those packages too (stricter than the import statement alone,
and what Python runs). The one exception is the importing module's own enclosing packages: Python has
already executed them before the module's first line, so ``a/b/c.py`` importing ``a.b.d`` adds no edge
to ``a/b/__init__.py`` (an explicit ``import a.b`` in ``a/b/c.py`` still counts). Imports done with
``importlib`` strings (the registries' family modules, ``tokkit.__getattr__``) are not edges: they are
what keeps a registry below the families that fill it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tokkit", "tokkit_cli")


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, tuple[Path, bool]]:
    """{dotted name: (file, is_package)} for every .py file under ``root/<package>``."""
    found = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return found


def _targets(node: ast.AST, package: str, mods: dict) -> list[str]:
    """The dotted names one import statement loads (within ``mods`` or not)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, dict[str, int]]:
    """{module: {imported module: line of the first import}} over the modules of ``packages``."""
    mods = modules(root, packages)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, package, mods):
                parts = target.split(".")
                for i in range(1, len(parts) + 1):  # the target and every package executed on the way
                    dep = ".".join(parts[:i])
                    implicit_own_parent = dep != target and name.startswith(dep + ".")
                    if dep in mods and dep != name and not implicit_own_parent:
                        graph[name].setdefault(dep, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth <= number of modules (~200)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, set(c), c[0]) for c in components]


def _one_cycle(graph: dict[str, dict[str, int]], comp: set[str], start: str) -> list[str]:
    """A shortest path start -> ... -> start inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in comp or w in previous:
                    continue
                previous[w] = v
                if w == start:
                    path = [start]
                    while path[-1] != start or len(path) == 1:
                        path.append(previous[path[-1]])
                    return path[::-1]
                nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # unreachable for a component of 2+ modules


def describe(cycle: list[str], root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> str:
    """``a.py -> b/__init__.py -> a.py``: the files, as a reader finds them."""
    mods = modules(root, packages)
    return " -> ".join(str(mods[m][0].relative_to(root)) for m in cycle)


def test_no_import_cycles():
    found = [describe(c) for c in cycles(import_graph())]
    assert not found, "import circles:\n  " + "\n  ".join(found)


def test_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "tokkit.errors" in graph["tokkit.registry"]  # a module-level import
    # a function-level import: encoders/__init__.py builds encoders from their modules on first use
    assert "tokkit.encoders.simple" in graph["tokkit.encoders"]
    # importing tokkit.io.checkpoint also runs tokkit/io/__init__.py
    assert "tokkit.io" in graph["tokkit.encoders.simple"]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_finds_a_cycle_in_a_synthetic_package(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            # a function-level, relative import closes the circle
            "pkg/b.py": "def f():\n    from . import c\n",
            "pkg/c.py": "from .a import thing\n",
            "pkg/sub/__init__.py": "from pkg.sub import leaf\n",
            "pkg/sub/leaf.py": "from pkg.sub import other\n",  # own package: not a circle
            "pkg/sub/other.py": "",
        },
    )
    found = [describe(c, tmp_path, ("pkg",)) for c in cycles(import_graph(tmp_path, ("pkg",)))]
    assert found == ["pkg/a.py -> pkg/b.py -> pkg/c.py -> pkg/a.py"]


def test_counts_the_package_init_a_submodule_import_executes(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "from pkg.high import x\n",  # the package imports upward...
            "pkg/low/core.py": "",
            "pkg/high.py": "from pkg.low.core import y\n",  # ...and runs pkg/low/__init__.py
        },
    )
    found = [describe(c, tmp_path, ("pkg",)) for c in cycles(import_graph(tmp_path, ("pkg",)))]
    assert found == ["pkg/high.py -> pkg/low/__init__.py -> pkg/high.py"]
