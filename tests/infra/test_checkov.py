"""A second opinion on the template: checkov finds nothing that infra/checkov_baseline.yaml does not explain.

checkov (pinned in requirements-checkov.txt, installed by `make test` into .venv-checkov) scans the
synthesized template. Each failed check must be in the baseline, under a check with a written reason;
a baseline entry checkov no longer reports fails too, so the file stays the exact list of what we accept.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.application import STACK_NAME
from infra.nag import MIN_REASON
from tests.infra.checkov import baseline, failed, scan
from tests.infra.conftest import Synth


@pytest.fixture(scope="module")
def report(synth: Synth) -> dict[str, Any]:
    return scan(synth.outdir / f"{STACK_NAME}.template.json")


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
