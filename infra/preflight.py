"""`make preflight`: what a first `cdk deploy` into this account and region needs, checked before it.

One line per check (``ok`` or ``missing``, then what to do), exit status 1 when something is
missing. It reads the synthesized template (``cdk.out/<stack>.template.json``, written by ``make
synth``) for the reserved concurrency and bootstrap version the stack needs, and the same context
settings as ``cdk`` (cdk.json, then ``-c key=value``). This tool is the only part of infra/ that
calls AWS (boto3, read-only calls).

    python -m infra.preflight [-c key=value ...] [--template PATH] [--region REGION]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.config import StackConfig, is_inference_profile

ROOT = Path(__file__).resolve().parents[1]
# Lambda keeps this much of the account's concurrency unreserved, whatever the functions reserve
UNRESERVED_MINIMUM = 100
BOOTSTRAP_QUALIFIER = "hnb659fds"
# what CDK's template rule (CheckBootstrapVersion) asks for when the template does not say
DEFAULT_BOOTSTRAP_VERSION = 6
# services the stack creates resources of, besides the everywhere-present ones (IAM, Lambda, SQS...)
REGIONAL_SERVICES = ("schemas", "scheduler", "apigatewayv2", "cognito-idp", "events", "dynamodb")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'missing':<8}{self.name}: {self.detail}"


def reserved_concurrency(template: dict[str, Any]) -> int:
    """The total reserved concurrency of the template's functions."""
    return sum(
        int(resource["Properties"].get("ReservedConcurrentExecutions", 0))
        for resource in template.get("Resources", {}).values()
        if resource["Type"] == "AWS::Lambda::Function"
    )


def required_bootstrap_version(template: dict[str, Any]) -> int:
    """The lowest bootstrap version CDK's CheckBootstrapVersion rule in the template accepts."""
    rule = template.get("Rules", {}).get("CheckBootstrapVersion")
    if rule is None:
        return DEFAULT_BOOTSTRAP_VERSION
    refused = rule["Assertions"][0]["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
    return max(int(version) for version in refused) + 1


def lambda_concurrency(client: Any, needed: int) -> Check:
    """The functions' reservations fit next to the 100 unreserved executions Lambda keeps."""
    limit = client.get_account_settings()["AccountLimit"]
    unreserved = int(limit["UnreservedConcurrentExecutions"])
    total = int(limit["ConcurrentExecutions"])
    if needed + UNRESERVED_MINIMUM <= unreserved:
        return Check(
            "Lambda concurrency",
            True,
            f"the stack reserves {needed}; {unreserved} of {total} are unreserved (at least "
            f"{UNRESERVED_MINIMUM} must stay so)",
        )
    return Check(
        "Lambda concurrency",
        False,
        f"the stack reserves {needed} and Lambda keeps {UNRESERVED_MINIMUM} unreserved, but only "
        f"{unreserved} of {total} are unreserved: ask Service Quotas for 'Concurrent executions' of at "
        f"least {needed + UNRESERVED_MINIMUM + total - unreserved}, or deploy with "
        "-c reserved_concurrency_scale=0 (no reservations)",
    )


def bootstrap(client: Any, required: int, qualifier: str = BOOTSTRAP_QUALIFIER) -> Check:
    """The CDK bootstrap stack is there, recent enough for this template."""
    parameter = f"/cdk-bootstrap/{qualifier}/version"
    try:
        version = int(client.get_parameter(Name=parameter)["Parameter"]["Value"])
    except client.exceptions.ParameterNotFound:
        return Check("CDK bootstrap", False, f"no {parameter}: run `npx cdk bootstrap` once here")
    if version < required:
        return Check(
            "CDK bootstrap",
            False,
            f"version {version}, the template needs {required}: run `npx cdk bootstrap` again",
        )
    return Check("CDK bootstrap", True, f"version {version} (the template needs {required} or later)")


def apigateway_role(client: Any, *, stack_sets_it: bool) -> Check:
    """API Gateway's account CloudWatch role, without which the WebSocket stage's access logs fail."""
    arn = client.get_account().get("cloudwatchRoleArn")
    if arn:
        return Check("API Gateway logging role", True, f"the account has {arn}")
    if stack_sets_it:
        return Check(
            "API Gateway logging role", True, "none yet; the stack sets it (apigateway_cloudwatch_role)"
        )
    return Check(
        "API Gateway logging role",
        False,
        "the account has no CloudWatch role for API Gateway, so the WebSocket stage's access logs "
        "cannot be written: deploy with -c apigateway_cloudwatch_role=true (or set one in the API "
        "Gateway console, Settings)",
    )


def region_support(session: Any, region: str, *, schema_registry: bool = True) -> Check:
    """Every regional service the stack uses exists in ``region`` (per botocore's endpoint data)."""
    services = [s for s in REGIONAL_SERVICES if schema_registry or s != "schemas"]
    absent = [s for s in services if region not in session.get_available_regions(s)]
    if absent:
        return Check(
            "region",
            False,
            f"{region} lacks {', '.join(absent)}: "
            + (
                "deploy with -c schema_registry=false"
                if absent == ["schemas"]
                else "deploy to a region listed in docs/deploy.md (Supported regions)"
            ),
        )
    return Check("region", True, f"{region} has {', '.join(services)}")


def bedrock_model(client: Any, model_id: str) -> Check:
    """The model (or inference profile) exists here and the account may invoke it."""
    name = "Bedrock model"
    try:
        if is_inference_profile(model_id):
            profile = client.get_inference_profile(inferenceProfileIdentifier=model_id)
            models = [m["modelArn"].rsplit("/", 1)[-1] for m in profile.get("models", [])]
            base = models[0] if models else model_id.split(".", 1)[-1]
        else:
            base = model_id.rsplit("/", 1)[-1]
            client.get_foundation_model(modelIdentifier=base)
        availability = client.get_foundation_model_availability(modelId=base)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return Check(name, False, f"{model_id}: {code}; pick a model (or profile) offered in this region")
    granted = (
        availability.get("authorizationStatus") == "AUTHORIZED"
        and availability.get("entitlementAvailability") == "AVAILABLE"
    )
    if not granted:
        return Check(
            name,
            False,
            f"{model_id}: access not granted (authorization {availability.get('authorizationStatus')}, "
            f"entitlement {availability.get('entitlementAvailability')}): enable it in the Bedrock "
            "console, Model access",
        )
    return Check(name, True, f"{model_id} is available to this account")


def run(session: Any, config: StackConfig, template: dict[str, Any] | None) -> list[Check]:
    """Every check, in the order a first deploy would trip over them."""
    region = session.region_name
    checks = [region_support(session, region, schema_registry=config.schema_registry)]
    if template is None:
        checks.append(Check("template", False, "no synthesized template: run `make synth` first"))
    else:
        checks.append(bootstrap(session.client("ssm"), required_bootstrap_version(template)))
        checks.append(lambda_concurrency(session.client("lambda"), reserved_concurrency(template)))
    checks.append(
        apigateway_role(session.client("apigateway"), stack_sets_it=config.apigateway_cloudwatch_role)
    )
    if config.ai_provider == "bedrock":
        checks.append(bedrock_model(session.client("bedrock"), config.model_id))
    return checks


def _context(pairs: Sequence[str]) -> dict[str, Any]:
    context: dict[str, Any] = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"-c takes key=value, not {pair!r}")
        context[key] = value
    return context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--context", action="append", default=[], help="key=value, as for cdk")
    parser.add_argument("--template", type=Path, help="default: cdk.out/<stack>.template.json")
    parser.add_argument("--region", help="default: the profile's or AWS_REGION")
    args = parser.parse_args(argv)
    import aws_cdk as cdk  # CDK's context rules, so preflight refuses what synth refuses

    config = StackConfig.from_context(cdk.App(context=_context(args.context)).node)
    path = args.template or ROOT / "cdk.out" / f"{config.stack_name}.template.json"
    template = json.loads(path.read_text()) if path.is_file() else None
    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    if session.region_name is None:
        sys.stdout.write("missing region: set AWS_REGION or a profile's region, or pass --region\n")
        return 1
    try:
        checks = run(session, config, template)
    except (BotoCoreError, ClientError) as exc:
        sys.stdout.write(f"missing AWS access: {exc}\n")
        return 1
    sys.stdout.write("".join(f"{check.line()}\n" for check in checks))
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
