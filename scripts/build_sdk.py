"""`make sdk`: build the parley-extension-sdk wheel into dist/ from this repository's sources.

The distribution is ``sdk/python/pyproject.toml`` over a staging copy of: the layer's ``parley``
package (the SDK, the event catalog's types, the in-memory fakes), ``sdk/python/parley_kit`` (the
pytest plugin, the harness, the scaffold and its template) and Parley's CDK constructs ``infra``
(without the local stack), for the ``cdk`` extra. No network: it builds with this venv's setuptools.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "sdk" / "python" / "pyproject.toml"
SOURCES = {
    "parley": ROOT / "layers" / "parley" / "python" / "parley",
    "parley_kit": ROOT / "sdk" / "python" / "parley_kit",
    "infra": ROOT / "infra",
}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "local", "checkov_baseline.yaml")


def version() -> str:
    found: str = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    return found


def stage(into: Path) -> None:
    shutil.copy(PYPROJECT, into / "pyproject.toml")
    for name, source in SOURCES.items():
        shutil.copytree(source, into / name, ignore=IGNORED)
        (into / name / "py.typed").touch()  # typed (PEP 561): an author's mypy checks against it


def build(dest: Path) -> Path:
    """Build the wheel into ``dest``; its path."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="parley-sdk-") as staging:
        stage(Path(staging))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "--wheel-dir",
                str(dest),
                staging,
            ],
            check=True,
        )
    return dest / f"parley_extension_sdk-{version()}-py3-none-any.whl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sdk", description=__doc__)
    parser.add_argument("--dest", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    print(f"wrote {build(args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
