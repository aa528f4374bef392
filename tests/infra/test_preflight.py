"""`make preflight` against moto (SSM, API Gateway, the region list) and botocore's Stubber where
moto has no such API (Lambda's GetAccountSettings, Bedrock's model and profile calls)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra import preflight
from infra.config import StackConfig

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/apigw-logs"
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Moderation": {"Type": "AWS::Lambda::Function", "Properties": {"ReservedConcurrentExecutions": 20}},
        "Turns": {"Type": "AWS::Lambda::Function", "Properties": {"ReservedConcurrentExecutions": 2}},
        "Api": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    },
    "Rules": {
        "CheckBootstrapVersion": {
            "Assertions": [
                {
                    "Assert": {
                        "Fn::Not": [
                            {"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}
                        ]
                    },
                    "AssertDescription": "CDK bootstrap stack version 6 required.",
                }
            ]
        }
    },
}


class Session:
    """A boto3 session (moto's) handing out the given stubbed clients instead of its own."""

    def __init__(self, **stubbed: Any) -> None:
        self._session = boto3.Session(region_name=REGION)
        self._stubbed = stubbed
        self.region_name = REGION

    def client(self, service: str) -> Any:
        return self._stubbed.get(service) or self._session.client(service)

    def get_available_regions(self, service: str) -> list[str]:
        regions: list[str] = self._session.get_available_regions(service)
        return regions


def _lambda(unreserved: int, total: int = 1000) -> Any:
    client = boto3.client("lambda", region_name=REGION)
    stub = Stubber(client)
    stub.add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": total, "UnreservedConcurrentExecutions": unreserved}},
    )
    stub.activate()
    return client


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def _ready_account() -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="27", Type="String"
    )
    boto3.client("apigateway", region_name=REGION).update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ROLE}]
    )


def test_the_template_figures() -> None:
    assert preflight.reserved_concurrency(TEMPLATE) == 22
    assert preflight.required_bootstrap_version(TEMPLATE) == 6


def test_a_ready_account_passes_every_check(aws: None) -> None:
    _ready_account()
    checks = preflight.run(Session(**{"lambda": _lambda(unreserved=1000)}), StackConfig(), TEMPLATE)
    assert [c.name for c in checks] == [
        "region",
        "CDK bootstrap",
        "Lambda concurrency",
        "API Gateway logging role",
    ]
    assert all(c.ok for c in checks), [c.line() for c in checks]
    assert checks[1].detail.startswith("version 27")


def test_a_fresh_account_is_told_what_is_missing(aws: None) -> None:
    # Given a new account: no bootstrap, the default quota of 10, no API Gateway logging role
    checks = {
        c.name: c
        for c in preflight.run(
            Session(**{"lambda": _lambda(unreserved=10, total=10)}), StackConfig(), TEMPLATE
        )
    }
    assert not checks["CDK bootstrap"].ok
    assert "npx cdk bootstrap" in checks["CDK bootstrap"].detail
    assert not checks["Lambda concurrency"].ok
    # 22 reserved + 100 unreserved: the quota to ask for, and the option that avoids it
    assert "at least 122" in checks["Lambda concurrency"].detail
    assert "reserved_concurrency_scale=0" in checks["Lambda concurrency"].detail
    assert not checks["API Gateway logging role"].ok
    assert "apigateway_cloudwatch_role=true" in checks["API Gateway logging role"].detail
    assert checks["region"].ok


def test_the_stack_setting_the_role_counts(aws: None) -> None:
    check = preflight.apigateway_role(boto3.client("apigateway", region_name=REGION), stack_sets_it=True)
    assert check.ok
    assert "the stack sets it" in check.detail


def test_an_old_bootstrap_is_refused(aws: None) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="5", Type="String"
    )
    check = preflight.bootstrap(boto3.client("ssm", region_name=REGION), 6)
    assert (check.ok, check.detail) == (
        False,
        "version 5, the template needs 6: run `npx cdk bootstrap` again",
    )


def test_a_region_without_the_schema_registry_is_refused() -> None:
    session = boto3.Session(region_name="ap-southeast-7")
    assert "ap-southeast-7" in session.get_available_regions("lambda")
    check = preflight.region_support(session, "ap-southeast-7")
    assert not check.ok
    assert "schemas" in check.detail


def _bedrock(*responses: tuple[str, dict[str, Any], dict[str, Any]]) -> tuple[Any, Stubber]:
    client = boto3.client("bedrock", region_name=REGION)
    stub = Stubber(client)
    for method, response, params in responses:
        stub.add_response(method, response, params)
    stub.activate()
    return client, stub


MODEL = "amazon.nova-micro-v1:0"
AVAILABLE = {
    "modelId": MODEL,
    "agreementAvailability": {"status": "AVAILABLE"},
    "authorizationStatus": "AUTHORIZED",
    "entitlementAvailability": "AVAILABLE",
    "regionAvailability": "AVAILABLE",
}


def test_bedrock_is_checked_only_when_chosen(aws: None) -> None:
    _ready_account()
    client, stub = _bedrock(
        (
            "get_foundation_model",
            {"modelDetails": {"modelArn": "a", "modelId": MODEL}},
            {"modelIdentifier": MODEL},
        ),
        ("get_foundation_model_availability", AVAILABLE, {"modelId": MODEL}),
    )
    session = Session(**{"lambda": _lambda(unreserved=1000), "bedrock": client})
    checks = preflight.run(session, StackConfig(ai_provider="bedrock"), TEMPLATE)
    assert checks[-1].name == "Bedrock model"
    assert checks[-1].ok
    stub.assert_no_pending_responses()
    session = Session(**{"lambda": _lambda(unreserved=1000)})
    assert "Bedrock model" not in [c.name for c in preflight.run(session, StackConfig(), TEMPLATE)]


def test_an_inference_profile_is_looked_up_as_one() -> None:
    profile = f"us.{MODEL}"
    client, stub = _bedrock(
        (
            "get_inference_profile",
            {
                "inferenceProfileName": "US Nova Micro",
                "inferenceProfileArn": f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{profile}",
                "inferenceProfileId": profile,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
                "models": [
                    {"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{MODEL}"}
                    for r in ("us-east-1", "us-west-2")
                ],
            },
            {"inferenceProfileIdentifier": profile},
        ),
        (
            "get_foundation_model_availability",
            {**AVAILABLE, "authorizationStatus": "NOT_AUTHORIZED"},
            {"modelId": MODEL},
        ),
    )
    check = preflight.bedrock_model(client, profile)
    stub.assert_no_pending_responses()
    assert not check.ok
    assert "Model access" in check.detail


def test_an_unknown_model_is_reported() -> None:
    client = boto3.client("bedrock", region_name=REGION)
    stub = Stubber(client)
    stub.add_client_error("get_foundation_model", "ResourceNotFoundException", http_status_code=404)
    stub.activate()
    check = preflight.bedrock_model(client, "amazon.nope-v1:0")
    assert (check.ok, "ResourceNotFoundException" in check.detail) == (False, True)


def test_main_prints_one_line_per_check_and_fails_when_something_is_missing(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "Parley-dev.template.json"
    template.write_text(json.dumps(TEMPLATE))
    session = Session(**{"lambda": _lambda(1000)})
    monkeypatch.setattr(boto3, "Session", lambda region_name=None: session)
    status = preflight.main(["-c", "stage=dev", "--template", str(template), "--region", REGION])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert len(lines) == 4
    assert [line.split()[0] for line in lines] == ["ok", "missing", "ok", "missing"]


def test_main_refuses_an_unknown_setting(aws: None) -> None:
    with pytest.raises(Exception, match="deletion_protecton"):
        preflight.main(["-c", "deletion_protecton=false", "--region", REGION])
