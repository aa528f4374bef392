"""The optional web hosting (context ``web_hosting``): S3 + CloudFront with a strict CSP, sign-in through
the user pool's hosted UI, the API trusting the web client and answering CORS for its origin."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.application import STACK_NAME
from infra.config import StackConfig
from infra.nag import MIN_REASON
from infra.web_hosting import hosted_csp
from tests.infra.checkov import baseline, failed, scan
from tests.infra.conftest import CONTEXT, ROOT, Synth, synthesize

WEB: dict[str, Any] = {
    **CONTEXT,
    "web_hosting": "true",
    "web_auth_domain_prefix": "parley-web-test",
    "cors_allowed_origins": "https://app.example.com",
}


@pytest.fixture(scope="module")
def web_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("web-cdk.out"), WEB)


def rendered(value: Any) -> str:
    """A template value with its intrinsic functions flattened to text, for substring checks."""
    return json.dumps(value)


def test_it_is_opt_in() -> None:
    assert StackConfig().web_hosting is False


def test_it_synthesizes_without_cdk_nag_findings(web_synth: Synth) -> None:
    assert web_synth.error is None, web_synth.violations


def test_the_bucket_is_private_and_only_cloudfront_reads_it(web_synth: Synth) -> None:
    ((_, bucket),) = web_synth.resources("AWS::S3::Bucket").items()
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    ((_, policy),) = web_synth.resources("AWS::S3::BucketPolicy").items()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in rendered(s) for s in statements)
    readers = [s for s in statements if s["Effect"] == "Allow"]
    assert readers
    assert all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in readers)
    assert web_synth.resources("AWS::CloudFront::OriginAccessControl")


def test_every_response_carries_a_strict_content_security_policy(web_synth: Synth) -> None:
    ((_, policy),) = web_synth.resources("AWS::CloudFront::ResponseHeadersPolicy").items()
    security = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    header = rendered(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in header
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header
    assert "parley-web-test.auth." in header  # the token endpoint, for the page's fetch
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 24 * 3600
    ((_, distribution),) = web_synth.resources("AWS::CloudFront::Distribution").items()
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "ResponseHeadersPolicyId" in config["DefaultCacheBehavior"]


def test_the_web_client_signs_in_with_the_code_grant_and_the_api_trusts_it(web_synth: Synth) -> None:
    clients = web_synth.resources("AWS::Cognito::UserPoolClient")
    (web,) = [c["Properties"] for c in clients.values() if c["Properties"].get("AllowedOAuthFlows")]
    assert web["AllowedOAuthFlows"] == ["code"]
    assert web["GenerateSecret"] is False
    assert "DomainName" in rendered(web["CallbackURLs"])  # the distribution's own URL
    assert web_synth.resources("AWS::Cognito::UserPoolDomain")
    authorizers = web_synth.resources("AWS::ApiGatewayV2::Authorizer").values()
    (authorizer,) = [a for a in authorizers if a["Properties"]["AuthorizerType"] == "JWT"]
    assert len(authorizer["Properties"]["JwtConfiguration"]["Audience"]) == 2
    apis = web_synth.resources("AWS::ApiGatewayV2::Api").values()
    (api,) = [v for v in apis if "CorsConfiguration" in v["Properties"]]
    origins = api["Properties"]["CorsConfiguration"]["AllowOrigins"]
    assert origins[0] == "https://app.example.com"
    assert "DomainName" in rendered(origins[1])


def test_config_json_is_written_from_the_stacks_values(web_synth: Synth) -> None:
    deployments = web_synth.resources("Custom::CDKBucketDeployment")
    assert len(deployments) == 2
    markers = rendered([d["Properties"].get("SourceMarkers") for d in deployments.values()])
    assert "oauth2/authorize" in markers
    assert "oauth2/token" in markers


def test_web_hosting_needs_a_domain_prefix_and_the_created_pool() -> None:
    with pytest.raises(ValueError, match="web_auth_domain_prefix"):
        StackConfig(web_hosting=True)
    with pytest.raises(ValueError, match="web_auth_domain_prefix"):
        StackConfig(
            web_hosting=True, web_auth_domain_prefix="p", user_pool_id="us-east-1_x", user_pool_client_id="c"
        )


def test_the_policy_allows_no_inline_code_and_names_every_origin_it_talks_to() -> None:
    policy = hosted_csp(
        "eu-west-1", "https://p.auth.eu-west-1.amazoncognito.com", ("https://api.example.com",)
    )
    assert "'unsafe" not in policy
    assert "connect-src 'self' https://*.execute-api.eu-west-1.amazonaws.com" in policy
    assert policy.endswith("frame-ancestors 'none'")
    assert "https://api.example.com" in policy


WEB_BASELINE = ROOT / "infra" / "checkov_baseline_web.yaml"


def test_checkov_finds_nothing_the_baselines_do_not_explain(web_synth: Synth) -> None:
    report = scan(web_synth.outdir / f"{STACK_NAME}.template.json")
    assert report["summary"]["resource_count"] == len(web_synth.template["Resources"])
    accepted = {(check, name) for check, entry in baseline().items() for name in entry["resources"]}
    web: dict[str, dict[str, Any]] = yaml.safe_load(WEB_BASELINE.read_text())
    listed = {(check, name) for check, entry in web.items() for name in entry["resources"]}
    assert all(len(entry["reason"].strip()) >= MIN_REASON for entry in web.values())
    assert failed(report) - accepted == listed
