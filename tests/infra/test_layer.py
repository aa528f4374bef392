"""The shared layer holds Lambda's wheels (arm64, CPython 3.13), not this machine's, and our package."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest

from infra import layer_build
from infra.layer import PARLEY_SOURCE, stage
from tests.infra.conftest import Synth


@pytest.fixture(scope="module")
def layer_names(synth: Synth) -> list[str]:
    (layer,) = synth.resources("AWS::Lambda::LayerVersion").values()
    asset = synth.asset_path(layer["Properties"]["Content"]["S3Key"])
    with zipfile.ZipFile(asset) as archive:
        return archive.namelist()


def test_pydantic_core_is_built_for_aarch64_and_cpython_313(layer_names: list[str]) -> None:
    (binary,) = [
        n for n in layer_names if n.startswith("python/pydantic_core/_pydantic_core") and n.endswith(".so")
    ]
    assert "cpython-313" in binary
    assert "aarch64" in binary
    native = [n for n in layer_names if n.endswith(".so")]
    assert all("x86_64" not in n for n in native)


def test_the_layer_holds_parley_and_its_runtime_packages_under_python(layer_names: list[str]) -> None:
    tops = {n.split("/")[1] for n in layer_names}
    assert {"parley", "pydantic", "pydantic_core", "pynamodb", "aws_lambda_powertools"} <= tops
    sources = {f"python/parley/{p.relative_to(PARLEY_SOURCE)}" for p in PARLEY_SOURCE.rglob("*.py")}
    sources = {s for s in sources if "__pycache__" not in s}
    assert sources <= set(layer_names)


def test_the_aws_sdk_is_left_to_the_runtime(layer_names: list[str]) -> None:
    tops = {n.split("/")[1] for n in layer_names}
    assert not tops & {"boto3", "botocore", "s3transfer"}


def test_bytecode_if_any_is_for_python_313_only(layer_names: list[str]) -> None:
    tags = {m.group(1) for n in layer_names if (m := re.search(r"\.(cpython-\d+)(?:\.opt-\d)?\.pyc$", n))}
    assert tags <= {"cpython-313"}


def test_the_tracer_dependency_is_in_the_layer(layer_names: list[str]) -> None:
    assert any(n.startswith("python/aws_xray_sdk/") for n in layer_names)


def test_synthesis_reads_the_cache_and_says_how_to_fill_it_when_empty(tmp_path: Path) -> None:
    with pytest.raises(layer_build.LayerNotBuiltError, match="make layer"):
        layer_build.cached(cache=tmp_path)


def test_the_layer_zip_is_the_same_bytes_for_the_same_content(tmp_path: Path) -> None:
    # Given a (small) package build and a snapshot of the parley package
    build = layer_build.Build(tmp_path / "build", key="k")
    (build.packages / "pydantic").mkdir(parents=True)
    (build.packages / "pydantic" / "__init__.py").write_text("VERSION = '2'\n")
    source = tmp_path / "parley"
    shutil.copytree(PARLEY_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__"))
    # When it is staged twice, into two places
    first = stage(build, source=source, assets=tmp_path / "a")
    second = stage(build, source=source, assets=tmp_path / "b")
    # Then both zips are the same bytes under the same name, so the asset hash does not move
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {"python/pydantic/__init__.py", "python/parley/__init__.py"} <= set(archive.namelist())
    # And a changed source file gives a new zip
    (source / "__init__.py").write_text((source / "__init__.py").read_text() + "\n# changed\n")
    assert stage(build, source=source, assets=tmp_path / "c").name != first.name
