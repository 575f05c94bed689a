"""The package's shape: data flows one way, so no module imports itself back through others
(issue 13: jobs -> streaming/beam -> jobs was the house's circle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "datapipeline"


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _named(path: Path, package: str) -> list[tuple[str, str | None]]:
    """(module, name) of every import of ``path``: ``import a.b`` is (a.b, None), ``from a
    import b`` is (a, b); relative imports made absolute."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            found += [(base, alias.name) for alias in node.names]
    return found


def imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at the top, under TYPE_CHECKING or inside a
    function: each is a tie a reader must follow). A name a package hands on from one of its
    modules (``from datapipeline.lake import Lake``) ties to that module, not to the package."""
    modules = {module_of(p): p for p in PACKAGE.rglob("*.py")}
    named = {
        name: _named(path, name if path.name == "__init__.py" else name.rpartition(".")[0])
        for name, path in modules.items()
    }
    handed_on = {  # package -> name -> the module of the package that defines it
        name: {alias: source for source, alias in named[name] if alias and source in modules}
        for name, path in modules.items()
        if path.name == "__init__.py"
    }

    def target_of(module: str, alias: str | None) -> str | None:
        if alias and f"{module}.{alias}" in modules:
            return f"{module}.{alias}"
        if alias and alias in handed_on.get(module, {}):
            return handed_on[module][alias]
        while module and module not in modules:
            module = module.rpartition(".")[0]
        return module or None

    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name in modules:
        for module, alias in named[name]:
            target = target_of(module, alias)
            if target and target != name:
                edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_a_package_importing_its_own_modules_is_seen() -> None:
    edges = imports()
    assert "datapipeline.engines" in edges["datapipeline.engines.local"]
    assert "datapipeline.run.imports" in edges["datapipeline.engines"]  # inside a function


def test_the_circle_finder_finds_one() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back() -> None:
    assert circles(imports()) == []
