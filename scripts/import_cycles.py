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
    """The strongly connected components (over one module) of the package's import graph.

    Two modules share a component when each reaches the other; grimp answers reachability itself,
    so the layer's hundred-odd modules need no hand-written graph search.
    """
    graph = grimp.build_graph(package, cache_dir=None)
    seen: set[str] = set()
    found: list[list[str]] = []
    for module in sorted(graph.modules):
        if module in seen:
            continue
        component = {module} | {
            other
            for other in graph.modules
            if other != module
            and graph.chain_exists(importer=module, imported=other)
            and graph.chain_exists(importer=other, imported=module)
        }
        seen |= component
        if len(component) > 1:
            found.append(sorted(component))
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
