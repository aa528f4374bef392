"""Deployment sizes: each function's zipped code and the shared layer, zipped in-process as CDK would.

Function code is its folder without bytecode (infra/functions.py excludes ``__pycache__`` and
``*.pyc``). The layer is ``python/`` = the packages ``make layer`` built for Lambda (.cache/layer,
see infra/layer_build.py) plus the parley package, zipped with deflate like infra/layer.py does;
it is built with ``make layer`` when missing (that needs PyPI once). No CDK is imported.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
PARLEY = ROOT / "layers" / "parley" / "python" / "parley"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
"""Function code plus all its layers, unzipped."""


def _is_bytecode(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def files(root: Path, *, skip_bytecode: bool = True) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not (skip_bytecode and _is_bytecode(p)))


def zip_size(entries: Iterable[tuple[str, Path]], target: io.BufferedIOBase | None = None) -> tuple[int, int]:
    """(zipped, unzipped) bytes of a deflated zip of ``(name in archive, file)`` entries."""
    buffer = target if target is not None else io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(entries):
            data = path.read_bytes()
            unzipped += len(data)
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.tell(), unzipped


def function_sizes(functions: Path = FUNCTIONS) -> dict[str, dict[str, int]]:
    found = {}
    for handler in sorted(functions.glob("*/handler.py")):
        folder = handler.parent
        zipped, unzipped = zip_size((str(p.relative_to(folder)), p) for p in files(folder))
        found[folder.name] = {"zipped_bytes": zipped, "unzipped_bytes": unzipped}
    return found


def layer_size(progress: Callable[[str], None] = print) -> dict[str, Any]:
    from infra import layer_build

    try:
        build = layer_build.cached()
    except layer_build.LayerNotBuiltError:
        progress("  sizes: the layer's packages are not built; building them (make layer, needs PyPI once)")
        build = layer_build.build()
    entries = [
        (f"python/{p.relative_to(build.packages)}", p) for p in files(build.packages, skip_bytecode=False)
    ]
    entries += [(f"python/parley/{p.relative_to(PARLEY)}", p) for p in files(PARLEY)]
    with tempfile.TemporaryFile() as spool:
        zipped, unzipped = zip_size(entries, spool)
    parley_zipped, parley_unzipped = zip_size((str(p.relative_to(PARLEY)), p) for p in files(PARLEY))
    return {
        "zipped_bytes": zipped,
        "unzipped_bytes": unzipped,
        "files": len(entries),
        "parley_package_zipped_bytes": parley_zipped,
        "parley_package_unzipped_bytes": parley_unzipped,
        "build": build.key,
        "unzipped_limit_bytes": LAMBDA_UNZIPPED_LIMIT,
    }


def run(progress: Callable[[str], None] = print) -> dict[str, Any]:
    functions = function_sizes()
    progress(f"  sizes: {len(functions)} functions zipped")
    try:
        layer = layer_size(progress)
    except Exception as exc:  # no PyPI, or a broken build: say so, keep the other figures
        layer = {"error": str(exc)}
    progress("  sizes: layer zipped")
    return {"functions": functions, "layer": layer}
