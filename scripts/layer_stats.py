"""Size of the shared layer at a glance: its largest modules and longest functions (issue 12's note).

Run ``python -m scripts.layer_stats [--top N] [path]``. A function's length is its line span, from
``def`` (or its first decorator) to its last line, so nested functions count inside their parent too.
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "parley" / "python" / "parley"


@dataclass(frozen=True)
class Span:
    where: str
    lines: int


def modules(root: Path) -> list[Span]:
    return [
        Span(str(path.relative_to(root.parent)), len(path.read_text().splitlines()))
        for path in sorted(root.rglob("*.py"))
    ]


def functions(root: Path) -> list[Span]:
    spans: list[Span] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                last = node.end_lineno or node.lineno
                where = f"{path.relative_to(root.parent)}:{node.lineno} {node.name}"
                spans.append(Span(where, last - first + 1))
    return spans


def largest(spans: list[Span], top: int) -> list[Span]:
    return sorted(spans, key=lambda s: (-s.lines, s.where))[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=LAYER)
    parser.add_argument("--top", type=int, default=5, help="how many of each to list")
    args = parser.parse_args()
    root = args.path.resolve()
    print(f"largest modules under {root.relative_to(ROOT) if root.is_relative_to(ROOT) else root}:")
    for span in largest(modules(root), args.top):
        print(f"  {span.lines:5d}  {span.where}")
    print("longest functions:")
    for span in largest(functions(root), args.top):
        print(f"  {span.lines:5d}  {span.where}")


if __name__ == "__main__":
    main()
