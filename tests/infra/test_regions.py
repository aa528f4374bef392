"""Supported regions: cfn-lint (E3006: a resource type the region lacks) over the template in each."""

from __future__ import annotations

import boto3
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from infra.preflight import region_support
from infra.regions import SUPPORTED_REGIONS, WITHOUT_SCHEMA_REGISTRY
from tests.infra.conftest import Synth


def _errors(synth: Synth, regions: tuple[str, ...]) -> list[str]:
    template = (synth.outdir / f"{synth.name}.template.json").read_text()
    matches = lint(template, config=ManualArgs(regions=list(regions)))
    return sorted({f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")})


def test_the_default_template_lints_clean_in_every_supported_region(synth: Synth) -> None:
    assert _errors(synth, SUPPORTED_REGIONS) == []


def test_the_other_regions_lack_only_the_schema_registry(synth: Synth, options_synth: Synth) -> None:
    errors = _errors(synth, WITHOUT_SCHEMA_REGISTRY)
    assert errors
    assert all(e.startswith("E3006 Resource type 'AWS::EventSchemas::") for e in errors), errors
    # with -c schema_registry=false (the options stage) they lint clean
    assert _errors(options_synth, WITHOUT_SCHEMA_REGISTRY) == []


def test_the_lists_cover_every_lambda_region_and_agree_with_preflight() -> None:
    session = boto3.Session(region_name="us-east-1")
    assert set(SUPPORTED_REGIONS) | set(WITHOUT_SCHEMA_REGISTRY) == set(
        session.get_available_regions("lambda")
    )
    for region in SUPPORTED_REGIONS:
        assert region_support(session, region).ok, region
    for region in WITHOUT_SCHEMA_REGISTRY:
        assert region_support(session, region, schema_registry=False).ok, region
