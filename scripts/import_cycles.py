"""Count import cycles in slipway, between modules and between top-level packages (exit 1 if any).

Run: .venv/bin/python scripts/import_cycles.py. Uses grimp (import-linter's
graph), so imports under TYPE_CHECKING count too: a cycle only the type
checker sees is still two modules that cannot be read one before the other.
"""

from __future__ import annotations

import sys

import grimp


def cycles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(100_000)
    for v in nodes:
        if v not in index:
            visit(v)
    return found


def main() -> int:
    graph = grimp.build_graph("slipway")
    modules = sorted(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for a, targets in edges.items():
        for b in targets:
            if top(a) != top(b):
                packages.setdefault(top(a), set()).add(top(b))
    between_modules = cycles(modules, edges)
    between_packages = cycles(sorted({top(m) for m in modules}), packages)
    print(f"import cycles between modules: {len(between_modules)}")
    for component in between_modules:
        print("  " + " <-> ".join(component))
    print(f"import cycles between top-level packages: {len(between_packages)}")
    for component in between_packages:
        print("  " + " <-> ".join(component))
    return 1 if between_modules or between_packages else 0


if __name__ == "__main__":
    sys.exit(main())
