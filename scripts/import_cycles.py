"""Count import cycles in the shared layer, function-level imports included (`make lint` runs it).

grimp (import-linter's graph) records every import statement, at module level or inside a function;
a cycle is a strongly connected component of more than one module. ``TYPE_CHECKING`` imports count too:
a type-only cycle still means two modules know each other.
"""

from __future__ import annotations

import argparse
import sys

import grimp


def cycles(package: str = "parley") -> list[list[str]]:
    """The strongly connected components (over one module) of the package's import graph."""
    graph = grimp.build_graph(package, cache_dir=None)
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        # iterative Tarjan: the graph is small, but recursion depth should not depend on it
        nonlocal counter
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max", type=int, default=0, help="fail above this many cycles (default 0)")
    args = parser.parse_args(argv)
    found = cycles()
    for component in found:
        print("cycle: " + " <-> ".join(component))
    print(f"{len(found)} import cycles in parley")
    return 1 if len(found) > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
