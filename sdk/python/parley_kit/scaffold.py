"""`python -m parley_kit.scaffold NAME DEST` (`make ext-new NAME=... DEST=...`): a new extension.

Writes, from ``parley_kit/template``: ``<id>/handler.py`` (manifest and handlers; the folder is its
Lambda code), ``tests/`` (on the ``parley_harness`` fixture), ``cdk/app.py`` and ``cdk.json``
(deploys it next to a Parley stack found by name), ``pyproject.toml`` (depends on
parley-extension-sdk) and a README. ``NAME`` is the extension's id: ``standup``, ``code_review``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from parley.extensions.manifest import ID_PATTERN

TEMPLATE = Path(__file__).resolve().parent / "template"
RENAMED = {"gitignore": ".gitignore"}


class ScaffoldError(ValueError):
    """The name is not a valid extension id, or the destination already has files."""


def title(extension_id: str) -> str:
    return "".join(part.capitalize() for part in extension_id.split("_"))


def render(text: str, extension_id: str) -> str:
    return text.replace("{{id}}", extension_id).replace("{{Name}}", title(extension_id))


def scaffold(extension_id: str, dest: Path) -> list[Path]:
    """Write the new extension's files under ``dest``; the paths written."""
    if not re.match(ID_PATTERN, extension_id):
        raise ScaffoldError(f"{extension_id!r} is not an extension id ({ID_PATTERN})")
    if dest.exists() and any(dest.iterdir()):
        raise ScaffoldError(f"{dest} is not empty")
    written = []
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = render(str(source.relative_to(TEMPLATE)), extension_id).removesuffix(".tmpl")
        target = dest / RENAMED.get(relative, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(source.read_text(), extension_id))
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_kit.scaffold", description=__doc__)
    parser.add_argument("name", help="the extension's id (lowercase, digits, underscores)")
    parser.add_argument("dest", type=Path, help="a new or empty folder, outside Parley's repository")
    args = parser.parse_args(argv)
    try:
        written = scaffold(args.name, args.dest)
    except ScaffoldError as exc:
        print(f"ext-new: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(
        f"\nnext: cd {args.dest} && pytest   (with parley-extension-sdk installed: make sdk)\n"
        f"      PARLEY_EXTENSIONS={args.dest.resolve() / args.name} make dev   (in Parley's checkout)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
