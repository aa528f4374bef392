"""Least privilege and the linters: no unexplained wildcard action, cfn-lint clean, cdk-nag clean."""

from __future__ import annotations

from typing import Any

from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from infra.nag import MIN_REASON
from tests.infra.conftest import Synth

# Every statement whose Action holds a wildcard, keyed by (Effect, Action), with the reason it is fine.
WILDCARD_ACTIONS_ALLOWED: dict[tuple[str, str], str] = {
    ("Deny", "sqs:*"): "enforce_ssl on every queue: denies each SQS action to a caller not on TLS",
}


def _statements(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in synth.template["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("PolicyDocument", "AssumeRolePolicyDocument"):
            for statement in props.get(key, {}).get("Statement", []):
                found.append((logical_id, statement))
        inline = props.get("Policies", []) if resource["Type"] == "AWS::IAM::Role" else []
        for policy in inline:
            for statement in policy["PolicyDocument"]["Statement"]:
                found.append((logical_id, statement))
    return found


def test_no_wildcard_action_without_a_written_reason(synth: Synth) -> None:
    unexplained = []
    for logical_id, statement in _statements(synth):
        actions = statement.get("Action", [])
        for action in actions if isinstance(actions, list) else [actions]:
            if "*" in action and (statement["Effect"], action) not in WILDCARD_ACTIONS_ALLOWED:
                unexplained.append((logical_id, statement["Effect"], action))
    assert not unexplained


def test_no_allow_statement_grants_every_action_on_every_resource(synth: Synth) -> None:
    for logical_id, statement in _statements(synth):
        if statement["Effect"] == "Allow":
            assert not (statement.get("Action") == "*" and statement.get("Resource") == "*"), logical_id


def test_cfn_lint_finds_no_error(synth: Synth) -> None:
    template = (synth.outdir / "Parley.template.json").read_text()
    matches = lint(template, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    errors = [
        f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
        for m in matches
        if m.rule.id.startswith("E")
    ]
    assert not errors


def test_cdk_nag_aws_solutions_and_serverless_report_no_unacknowledged_finding(synth: Synth) -> None:
    findings = [
        f"{v['ruleName']}: {v['description']} at {[c['constructPath'] for c in v['violatingConstructs']]}"
        for v in synth.violations
    ]
    assert not findings, "\n".join(findings)
    assert synth.error is None


def test_every_acknowledged_finding_says_why(synth: Synth) -> None:
    assert synth.acknowledgements, "the packs ran and some findings were acknowledged"
    for path, rule, reason in synth.acknowledgements:
        assert rule.split("::", 1)[0] in {"AwsSolutions", "Serverless"}, (path, rule)
        assert len(reason) >= MIN_REASON, (path, rule)
