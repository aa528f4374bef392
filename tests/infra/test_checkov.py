"""A second opinion on the template: checkov finds nothing that infra/checkov_baseline.yaml does not explain.

checkov (pinned in requirements-checkov.txt, installed by `make test` into .venv-checkov) scans the
synthesized template. Each failed check must be in the baseline, under a check with a written reason;
a baseline entry checkov no longer reports fails too, so the file stays the exact list of what we accept.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.application import STACK_NAME
from infra.nag import MIN_REASON
from tests.infra.conftest import ROOT, Synth

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
BASELINE = ROOT / "infra" / "checkov_baseline.yaml"
CDK_HASH = re.compile(r"[0-9A-F]{8}$")
SCAN_OPTIONS = ("--framework", "cloudformation", "-o", "json", "--quiet", "--compact", "--skip-download")
"""--skip-download: offline, no Prisma Cloud guidelines (the checks themselves ship with checkov)."""


def resource_name(checkov_resource: str) -> str:
    """The logical id without CDK's hash (``EventsRouteturnsDlqB34B4BCC`` -> ``EventsRouteturnsDlq``)."""
    return CDK_HASH.sub("", checkov_resource.split(".", 1)[1])


@cache
def scan(template: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make test` installs it (requirements-checkov.txt)"
    result = subprocess.run(
        [str(CHECKOV), "-f", str(template), *SCAN_OPTIONS],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: some check failed
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def baseline() -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = yaml.safe_load(BASELINE.read_text())
    return entries


@pytest.fixture(scope="module")
def report(synth: Synth) -> dict[str, Any]:
    return scan(synth.outdir / f"{STACK_NAME}.template.json")


def failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check_id"], resource_name(f["resource"])) for f in report["results"]["failed_checks"]}


def test_checkov_finds_nothing_the_baseline_does_not_explain(report: dict[str, Any]) -> None:
    accepted = {(check, name) for check, entry in baseline().items() for name in entry["resources"]}
    found = failed(report)
    new = sorted(found - accepted)
    assert not new, (
        "checkov findings not in infra/checkov_baseline.yaml (fix them, or add them with a reason): "
        + (", ".join(f"{check} {name}" for check, name in new))
    )
    stale = sorted(accepted - found)
    assert not stale, "infra/checkov_baseline.yaml lists findings checkov no longer reports: " + ", ".join(
        f"{check} {name}" for check, name in stale
    )


def test_every_baselined_check_has_a_reason() -> None:
    for check, entry in baseline().items():
        assert len(entry["reason"].strip()) >= MIN_REASON, check
        assert entry["resources"], check


def test_checkov_scanned_the_whole_template(report: dict[str, Any], synth: Synth) -> None:
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] == len(synth.template["Resources"])
    assert summary["passed"] > 300  # a scan that ran no check would pass the baseline test vacuously


def test_every_queue_is_encrypted_at_rest(synth: Synth) -> None:
    # The baseline's reason for CKV_AWS_27: SQS-managed SSE, which that check does not recognize
    for logical_id, queue in synth.resources("AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, logical_id


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(synth: Synth) -> None:
    topic = synth.resource(synth.logical_id(synth.stack.observability.topic))
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = synth.resource(key_id)
    assert key["Properties"]["EnableKeyRotation"] is True
    grants = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(grants) == 1
    assert grants[0]["Effect"] == "Allow"
    assert sorted(grants[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
