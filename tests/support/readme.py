"""README's marked code blocks (``<!-- example: <name> -->`` before a fenced python block), for the
tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```", re.DOTALL)


def example(name: str) -> str:
    found = {m["name"]: m["code"] for m in EXAMPLE.finditer(README.read_text(encoding="utf-8"))}
    assert name in found, f"README.md has no `<!-- example: {name} -->` python block (has {sorted(found)})"
    return found[name]
