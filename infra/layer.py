"""The shared layer: the parley package plus its third-party packages built for Lambda.

The third-party part comes from ``make layer``'s cache (``infra.layer_build``); synthesis only
reads it, so it is offline. Both parts are zipped into one deterministic archive named by their
content: an unchanged layer keeps its asset hash (no upload), and CDK stages one file instead of
thousands (seconds off every synth).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import layer_build

PARLEY_SOURCE = layer_build.ROOT / "layers" / "parley" / "python" / "parley"
ASSETS = layer_build.ROOT / ".cache" / "layer-asset"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _files(root: Path, skip_bytecode: bool) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not (skip_bytecode and ("__pycache__" in p.parts or p.suffix == ".pyc"))
    )


def _digest(build: layer_build.Build, source: Path) -> str:
    digest = hashlib.sha256(build.key.encode())
    for path in _files(source, skip_bytecode=True):
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _write_zip(target: Path, entries: list[tuple[str, Path]]) -> None:
    """Same bytes for the same files: fixed timestamps and modes, sorted names."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def stage(
    build: layer_build.Build | None = None, source: Path = PARLEY_SOURCE, assets: Path = ASSETS
) -> Path:
    """The layer's zip (``python/`` = packages + parley), made once per content."""
    build = build or layer_build.cached()
    target = assets / f"parley-layer-{_digest(build, source)}.zip"
    if not target.is_file():
        assets.mkdir(parents=True, exist_ok=True)
        entries = [(f"python/{p.relative_to(build.packages)}", p) for p in _files(build.packages, False)]
        entries += [(f"python/parley/{p.relative_to(source)}", p) for p in _files(source, skip_bytecode=True)]
        # two synths (the tests' in-process one and `cdk synth`'s) may stage it at once: each writes
        # its own file, and the same bytes replace the same name atomically
        partial = target.with_suffix(f".{os.getpid()}.partial")
        _write_zip(partial, entries)
        os.replace(partial, target)
        for old in assets.glob("parley-layer-*.zip"):
            if old != target:
                old.unlink(missing_ok=True)
    return target


class SharedLayer(Construct):
    """One layer version for every function: same code, same packages, one upload."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(stage())),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="parley package with pydantic, pynamodb and Powertools, for arm64 Python 3.13",
        )
