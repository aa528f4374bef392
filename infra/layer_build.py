"""Builds the shared layer's third-party packages for Lambda (arm64, CPython 3.13) without Docker.

pip can install wheels for another platform (``--platform``, ``--only-binary``), so no container is
needed. The result is cached under ``.cache/layer/<key>``, keyed by a hash of the layer's
requirements and of these build settings, so ``make layer`` downloads only when they change and
synthesis (``infra.layer``) never touches the network: it only reads the cache.

Run it with ``python -m infra.layer_build`` (``make layer``). This module imports no CDK.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "layers" / "parley" / "requirements.txt"
CACHE = ROOT / ".cache" / "layer"

# Lambda's runtime and architecture; infra.functions asserts its Runtime matches LAMBDA_PYTHON.
LAMBDA_PYTHON = "3.13"
PLATFORM = "manylinux2014_aarch64"
MARKER = "BUILD.json"
# The Python runtime ships the AWS SDK; a second botocore in /opt would shadow it under the
# runtime's boto3 (version skew) and weighs 30 MB, so it is dropped even when a package needs it.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Bump when the build steps below change, so every cached build is rebuilt once.
BUILD_FORMAT = 2


class LayerNotBuiltError(RuntimeError):
    """Synthesis needs the layer's packages, and they are built ahead of it (never during it)."""


@dataclass(frozen=True)
class Build:
    directory: Path
    key: str

    @property
    def packages(self) -> Path:
        """The folder Lambda mounts at /opt/python."""
        return self.directory / "python"


def cache_key(requirements: Path = REQUIREMENTS) -> str:
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(f"{LAMBDA_PYTHON}|{PLATFORM}|{','.join(RUNTIME_PROVIDED)}|{BUILD_FORMAT}".encode())
    return digest.hexdigest()[:20]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def cached(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> Build:
    """The build for the current requirements, or a clear error saying how to make it."""
    key = cache_key(requirements)
    build = Build(cache / key, key)
    if not (build.directory / MARKER).is_file():
        raise LayerNotBuiltError(
            f"the shared layer's packages for {_shown(requirements)} are not built (no "
            f"{_shown(build.directory)}); run `make layer` first (it needs PyPI once, then synthesis "
            "works offline)"
        )
    return build


def _pip_install(target: Path, requirements: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--platform",
            PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON,
            "--only-binary=:all:",
            "--target",
            str(target),
            "-r",
            str(requirements),
        ],
        check=True,
    )


def _distributions(packages: Path) -> dict[str, Path]:
    """Installed distributions by normalized name -> their .dist-info folder."""
    found = {}
    for info in packages.glob("*.dist-info"):
        name = info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        found[name.lower().replace("_", "-")] = info
    return found


def _remove_distribution(packages: Path, info: Path) -> None:
    """Delete exactly the files pip recorded for one distribution (RECORD), then its empty folders."""
    for line in (info / "RECORD").read_text().splitlines():
        relative = line.split(",", 1)[0]
        if relative:
            (packages / relative).unlink(missing_ok=True)
    folders = sorted({p for p in packages.rglob("*") if p.is_dir()}, key=lambda p: len(p.parts), reverse=True)
    for folder in folders:
        if not any(folder.iterdir()):
            folder.rmdir()
    shutil.rmtree(info, ignore_errors=True)


def _python_313() -> str | None:
    """An interpreter of Lambda's Python version, for bytecode; None when this machine has none."""
    candidates = [os.environ.get("PARLEY_LAYER_PYTHON", ""), f"python{LAMBDA_PYTHON}"]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{LAMBDA_PYTHON}*/bin/python3"))
    for candidate in filter(None, candidates):
        path = shutil.which(candidate) or candidate
        try:
            out = subprocess.run(
                [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == LAMBDA_PYTHON:
            return path
    return None


def _compile(packages: Path, python: str) -> None:
    """Precompile for the Lambda interpreter: /opt is read-only, so Lambda would compile every import
    on every cold start. Hash-based pycs (``unchecked-hash``) stay valid whatever mtimes the zip keeps;
    paths in tracebacks read /opt/python/..., as on Lambda."""
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(packages),
            "-p",
            "/opt/python",
            str(packages),
        ],
        check=True,
    )


def build(requirements: Path = REQUIREMENTS, cache: Path = CACHE, *, force: bool = False) -> Build:
    """Install the layer's wheels for Lambda into the cache (atomically), unless already there."""
    key = cache_key(requirements)
    result = Build(cache / key, key)
    if (result.directory / MARKER).is_file() and not force:
        return result
    staging = cache / f".{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    packages = staging / "python"
    _pip_install(packages, requirements)
    installed = _distributions(packages)
    for name in RUNTIME_PROVIDED:
        if name in installed:
            _remove_distribution(packages, installed.pop(name))
    shutil.rmtree(packages / "bin", ignore_errors=True)
    python = _python_313()
    if python:
        _compile(packages, python)
    (staging / MARKER).write_text(
        json.dumps(
            {
                "key": key,
                "python": LAMBDA_PYTHON,
                "platform": PLATFORM,
                "distributions": sorted(installed),
                "dropped_runtime_provided": list(RUNTIME_PROVIDED),
                "bytecode": bool(python),
            },
            indent=2,
        )
        + "\n"
    )
    shutil.rmtree(result.directory, ignore_errors=True)
    staging.rename(result.directory)
    for old in cache.iterdir():
        if old != result.directory and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    args = parser.parse_args(argv)
    result = build(force=args.force)
    details = json.loads((result.directory / MARKER).read_text())
    bytecode = "with" if details["bytecode"] else "without (no Python 3.13 found; set PARLEY_LAYER_PYTHON)"
    sys.stdout.write(f"layer packages ready in {_shown(result.directory)}, {bytecode} bytecode\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
