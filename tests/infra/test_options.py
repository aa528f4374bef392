"""Opt-in context options, each seen in the synthesized template, and a second stage beside the first.

``options_synth`` is one synthesis with every option on and ``stage=dev``; ``synth`` is cdk.json's.
"""

from __future__ import annotations

import json
import math
from typing import Any

import aws_cdk as cdk
import pytest

from infra.account import PUSH_TO_LOGS_POLICY
from infra.application import STACK_NAME, build
from infra.config import (
    KEYS,
    ConfigError,
    StackConfig,
    is_inference_profile,
    profile_model,
    scale_reservation,
)
from infra.functions import AI_MODEL_SETTING, AI_PROVIDER_SETTING
from tests.infra.conftest import OPTIONS, Synth

# names that live inside their parent (a role's inline policy, an API's stage or authorizer), not
# in the account, or that name something else (the metric an alarm watches): two stacks may share them
NOT_PHYSICAL = {
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::IAM::Policy", "PolicyName"),
    ("AWS::ApiGatewayV2::Authorizer", "Name"),
    ("AWS::ApiGatewayV2::Stage", "StageName"),
}


def physical_names(synth: Synth) -> dict[str, set[str]]:
    """Every literal name a resource asks CloudFormation for (a top-level ``...Name`` property, not
    a display text), with the resource types asking for it."""
    found: dict[str, set[str]] = {}
    for resource in synth.template["Resources"].values():
        for key, value in resource.get("Properties", {}).items():
            kind = resource["Type"]
            if (
                key.endswith("Name")
                and key != "DisplayName"
                and isinstance(value, str)
                and (kind, key) not in NOT_PHYSICAL
            ):
                found.setdefault(value, set()).add(kind)
    return found


def test_an_unknown_context_key_is_refused_with_the_valid_ones() -> None:
    # Given `cdk deploy -c deletion_protecton=false` (misspelt), next to CDK's own keys
    app = cdk.App(
        context={"deletion_protecton": "false", "@aws-cdk/core:newStyleStackSynthesis": True, "stage": "dev"}
    )
    with pytest.raises(ConfigError, match="deletion_protecton") as raised:
        build(app)
    # Then the message lists every valid setting, so the right spelling is one look away
    assert all(key in str(raised.value) for key in KEYS)
    assert "newStyleStackSynthesis" not in str(raised.value)


def test_a_stage_names_the_registry_and_its_schemas_too() -> None:
    config = StackConfig(stage="dev")
    assert (config.stack_name, config.name(), config.name("parley-http", today="Api")) == (
        "Parley-dev",
        "parley-dev",
        "parley-http-dev",
    )
    assert (StackConfig().name(), StackConfig().name("parley-http", today="Api")) == ("parley", "Api")


def test_a_stage_must_be_short_lowercase_letters_and_digits() -> None:
    with pytest.raises(ConfigError, match="stage"):
        build(cdk.App(context={"stage": "Prod_1"}))


def test_two_stages_share_no_physical_name(synth: Synth, options_synth: Synth) -> None:
    # Given the default stack and a `-c stage=dev` one in the same account and region
    assert (synth.name, options_synth.name) == (STACK_NAME, "Parley-dev")
    default, staged = physical_names(synth), physical_names(options_synth)
    # the check has something to check: the bus, the registry and its schemas, both APIs are named
    # (the options stage goes without the schema registry; its names are the default's plus the stage)
    named_types = set().union(*staged.values())
    assert {"AWS::Events::EventBus", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::DomainName"} <= named_types
    assert not set(default) & set(staged), sorted(set(default) & set(staged))


def test_the_default_stage_keeps_todays_names(synth: Synth) -> None:
    names = physical_names(synth)
    assert names["parley"] == {"AWS::Events::EventBus", "AWS::EventSchemas::Registry"}
    assert names["Api"] == {"AWS::ApiGatewayV2::Api"}
    assert "parley@MessageStored" in names
    assert synth.template["Outputs"]["BusName"]["Value"] == {"Ref": synth.logical_id(synth.stack.events.bus)}


def test_options_synthesize_without_cdk_nag_findings(options_synth: Synth) -> None:
    assert options_synth.error is None, options_synth.violations


def test_the_apigateway_account_role_is_opt_in(synth: Synth, options_synth: Synth) -> None:
    assert not synth.resources("AWS::ApiGateway::Account")
    ((account_id, account),) = options_synth.resources("AWS::ApiGateway::Account").items()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role: dict[str, Any] = options_synth.resource(role_id)
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    (policy,) = role["Properties"]["ManagedPolicyArns"]
    assert PUSH_TO_LOGS_POLICY in str(policy)
    # kept on destroy: other APIs of the account log through the same setting
    assert account["DeletionPolicy"] == role["DeletionPolicy"] == "Retain"
    # both stages wait for the setting, so a fresh account's first deploy does not fail on them
    stages = options_synth.resources("AWS::ApiGatewayV2::Stage")
    assert len(stages) == 2
    for stage in stages.values():
        assert account_id in stage.get("DependsOn", [])
    acknowledged = [rule for _, rule, _ in options_synth.acknowledgements if "IAM4" in rule]
    assert any(PUSH_TO_LOGS_POLICY in rule for rule in acknowledged)


def _reservations(synth: Synth) -> dict[str, int | None]:
    return {
        k: f["Properties"].get("ReservedConcurrentExecutions")
        for k, f in synth.resources("AWS::Lambda::Function").items()
    }


def test_reserved_concurrency_scales_down_with_its_pollers(synth: Synth, options_synth: Synth) -> None:
    # Given -c reserved_concurrency_scale=0.5 (the moderation and spoilers extensions reserve 20, the
    # other six 2)
    default, halved = _reservations(synth), _reservations(options_synth)
    assert sorted(v for v in default.values() if v) == [2, 2, 2, 2, 2, 2, 20, 20]
    assert halved == {k: None if v is None else math.ceil(v / 2) for k, v in default.items()}
    # the SQS pollers follow (held to the reservation when it is 2 or more, else unbounded)
    pollers = {
        m["Properties"]["FunctionName"]["Ref"]: m["Properties"]
        .get("ScalingConfig", {})
        .get("MaximumConcurrency")
        for m in options_synth.resources("AWS::Lambda::EventSourceMapping").values()
    }
    assert sorted(p for p in pollers.values() if p) == [10, 10]


def test_a_reservation_scales_up_to_one_or_to_none() -> None:
    assert [scale_reservation(20, s) for s in (1, 0.5, 0.01, 0)] == [20, 10, 1, None]
    assert scale_reservation(None, 0.5) is None


PROFILE = "us.amazon.nova-micro-v1:0"


def _environment(synth: Synth, function: str) -> dict[str, str]:
    found: dict[str, str] = synth.resource(synth.logical_id(synth.stack.lambdas[function]))["Properties"][
        "Environment"
    ]["Variables"]
    return found


def test_the_ai_provider_and_model_come_from_context(synth: Synth, options_synth: Synth) -> None:
    assert not {AI_PROVIDER_SETTING, AI_MODEL_SETTING} & set(_environment(synth, "ai_responder"))
    staged = _environment(options_synth, "ai_responder")
    assert (staged[AI_PROVIDER_SETTING], staged[AI_MODEL_SETTING]) == ("bedrock", PROFILE)
    # only the function that calls Bedrock gets them
    assert AI_PROVIDER_SETTING not in _environment(options_synth, "api")


def _bedrock_resources(synth: Synth) -> list[str]:
    role = synth.logical_id(synth.stack.lambdas["ai_responder"].role)
    documents = [
        p["Properties"]["PolicyDocument"]
        for p in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    return [
        json.dumps(resource)
        for document in documents
        for statement in document["Statement"]
        if "bedrock:InvokeModelWithResponseStream" in json.dumps(statement["Action"])
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    ]


def test_an_inference_profile_is_granted_with_its_model_in_any_region(
    synth: Synth, options_synth: Synth
) -> None:
    # by default: this region's foundation models, which each participant picks from
    (default,) = _bedrock_resources(synth)
    assert ":foundation-model/*" in default
    granted = _bedrock_resources(options_synth)
    assert default in granted
    assert any(":bedrock:*:" in r and f":inference-profile/{PROFILE}" in r for r in granted), granted
    assert any(":bedrock:*::foundation-model/amazon.nova-micro-v1:0" in r for r in granted), granted


def test_profile_ids_and_arns_are_told_from_models() -> None:
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{PROFILE}"
    assert [is_inference_profile(m) for m in (PROFILE, arn, "amazon.nova-micro-v1:0", "eu.anthropic.x")] == [
        True,
        True,
        False,
        True,
    ]
    assert profile_model(PROFILE) == profile_model(arn) == "amazon.nova-micro-v1:0"


def test_ai_failures_are_alarmed_from_the_ai_responders_counts(synth: Synth) -> None:
    (alarm,) = [
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmDescription", "").startswith("AI replies")
    ]
    counts = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"]
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }
    assert set(counts) == {"AIResponderCompleted", "AIResponderFailed"}
    for metric in counts.values():
        assert metric["Namespace"] == "Parley"
        assert metric["Dimensions"] == [{"Name": "service", "Value": "parley-ai_responder"}]
    # the dimension is the one the ai_responder function's Powertools writes
    assert _environment(synth, "ai_responder")["POWERTOOLS_SERVICE_NAME"] == "parley-ai_responder"


def test_a_stage_has_its_own_metric_dimensions(options_synth: Synth) -> None:
    # two stages in one account write EMF metrics to the same namespace: the service tells them apart
    assert (
        _environment(options_synth, "ext_analytics")["POWERTOOLS_SERVICE_NAME"] == "parley-dev-ext_analytics"
    )
    assert _environment(options_synth, "api")["POWERTOOLS_SERVICE_NAME"] == "parley-dev-api"


def _pool(synth: Synth) -> dict[str, Any]:
    (pool,) = synth.resources("AWS::Cognito::UserPool").values()
    found: dict[str, Any] = pool["Properties"]
    return found


def test_cors_answers_the_given_origins_only(synth: Synth, options_synth: Synth) -> None:
    http = synth.logical_id(synth.stack.http.api)
    assert "CorsConfiguration" not in synth.resource(http)["Properties"]
    cors = options_synth.resource(http)["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://app.example.com", "https://admin.example.com"]
    assert {"authorization", "content-type"} <= set(cors["AllowHeaders"])
    assert cors["AllowCredentials"] is False


def test_with_cors_the_preflights_reach_the_api_without_the_authorizer(
    synth: Synth, options_synth: Synth
) -> None:
    # $default (behind the JWT authorizer) would catch the browsers' preflights, which carry no token
    def options_routes(of: Synth) -> dict[str, dict[str, Any]]:
        routes = of.resources("AWS::ApiGatewayV2::Route").values()
        return {
            r["Properties"]["RouteKey"]: r["Properties"]
            for r in routes
            if "OPTIONS" in r["Properties"]["RouteKey"]
        }

    assert options_routes(synth) == {}
    preflight = options_routes(options_synth)["OPTIONS /{proxy+}"]
    assert preflight["AuthorizationType"] == "NONE"
    assert preflight["Target"] == _api_integration(options_synth)


def _api_integration(of: Synth) -> dict[str, Any]:
    api = {"Ref": of.logical_id(of.stack.http.api)}
    (integration,) = (
        k
        for k, v in of.resources("AWS::ApiGatewayV2::Integration").items()
        if v["Properties"]["ApiId"] == api
    )
    return {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]}


def test_self_sign_up_and_ses_email_are_options(synth: Synth, options_synth: Synth) -> None:
    assert _pool(synth)["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert (
        "EmailConfiguration" not in _pool(synth)
        or _pool(synth)["EmailConfiguration"].get("EmailSendingAccount") != "DEVELOPER"
    )
    pool = _pool(options_synth)
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    email = pool["EmailConfiguration"]
    assert (email["EmailSendingAccount"], email["From"]) == ("DEVELOPER", "no-reply@example.com")
    assert "ses:eu-west-1:" in json.dumps(email["SourceArn"])
    assert "identity/no-reply@example.com" in json.dumps(email["SourceArn"])


def test_both_apis_get_their_custom_domain(synth: Synth, options_synth: Synth) -> None:
    assert not synth.resources("AWS::ApiGatewayV2::DomainName")
    domains = {
        d["Properties"]["DomainName"]: (k, d["Properties"]["DomainNameConfigurations"][0]["CertificateArn"])
        for k, d in options_synth.resources("AWS::ApiGatewayV2::DomainName").items()
    }
    assert domains.keys() == {"api.example.com", "ws.example.com"}
    assert domains["ws.example.com"][1].endswith("certificate/ws")
    mappings = {
        (m["Properties"]["ApiId"]["Ref"], m["Properties"]["DomainName"]["Ref"])
        for m in options_synth.resources("AWS::ApiGatewayV2::ApiMapping").values()
    }
    assert mappings == {
        (options_synth.logical_id(options_synth.stack.http.api), domains["api.example.com"][0]),
        (options_synth.logical_id(options_synth.stack.realtime.api), domains["ws.example.com"][0]),
    }
    assert {"HttpDomainTarget", "WebSocketDomainTarget"} <= set(options_synth.template["Outputs"])


def test_a_waf_web_acl_guards_the_user_pool(synth: Synth, options_synth: Synth) -> None:
    assert not synth.resources("AWS::WAFv2::WebACLAssociation")
    (association,) = options_synth.resources("AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == OPTIONS["waf_web_acl_arn"]
    pool = options_synth.logical_id(options_synth.stack.http.users.pool)
    assert association["Properties"]["ResourceArn"] == {"Fn::GetAtt": [pool, "Arn"]}


def _retention(synth: Synth, function: str) -> int:
    log_group = synth.stack.lambdas[function].log_group
    days: int = synth.resource(synth.logical_id(log_group))["Properties"]["RetentionInDays"]
    return days


def test_log_retention_per_function(synth: Synth, options_synth: Synth) -> None:
    assert {_retention(synth, f) for f in ("api", "turns", "ext_moderation")} == {30}
    assert [_retention(options_synth, f) for f in ("api", "turns", "ext_moderation")] == [90, 30, 7]


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"cors_allowed_origins": "https://app.example.com/path"}, "cors_allowed_origins"),
        ({"log_retention_by_function": "nosuch=7"}, "log_retention_by_function"),
        ({"log_retention_by_function": "api=10"}, "log_retention_by_function"),
        ({"http_domain_name": "api.example.com"}, "http_certificate_arn"),
        (
            {"user_pool_id": "us-east-1_abc", "user_pool_client_id": "c", "self_sign_up": "false"},
            "self_sign_up",
        ),
        ({"waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/y"}, "waf_web_acl_arn"),
    ],
)
def test_bad_production_options_fail_with_their_name(context: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        StackConfig.from_context(cdk.App(context=context).node)
