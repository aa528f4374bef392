"""One synthesis per test session, offline, the way `cdk synth` does it (same app builder, same context).

The app is synthesized with cdk-nag's packs on; if they report findings, synthesis raises but the
template is still written, so the template tests run and only the cdk-nag test fails, naming them.
The CLI path (app.py run as `cdk synth` runs it) is synthesized in a subprocess at the same time,
to prove both give the same template without paying for the two synths one after the other.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.application import STACK_NAME, build
from infra.stack import ParleyStack

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = json.loads((ROOT / "cdk.json").read_text())
# cdk.json's context plus what the default synth leaves out, so its resources are checked too
CONTEXT: dict[str, Any] = {**CDK_JSON["context"], "alarm_email": "alarms@example.com"}


@dataclass
class Synth:
    outdir: Path
    stack: ParleyStack
    error: str | None = None
    _template: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The stack's artifact (and file) name: ``Parley``, or ``Parley-<stage>``."""
        return self.stack.artifact_id

    @property
    def template(self) -> dict[str, Any]:
        if not self._template:
            self._template = json.loads((self.outdir / f"{self.name}.template.json").read_text())
        return self._template

    @cached_property
    def assertions(self) -> Template:
        return Template.from_json(self.template)

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def resource(self, logical_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.template["Resources"][logical_id]
        return found

    def function(self, name: str) -> dict[str, Any]:
        """A Lambda's resource, by its spec name (``infra.specs``)."""
        return self.resource(self.logical_id(self.stack.lambdas[name]))

    def logical_id(self, construct: cdk.CfnElement | Any) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        resolved: str = self.stack.resolve(element.logical_id)
        return resolved

    @cached_property
    def violations(self) -> list[dict[str, Any]]:
        """Unacknowledged cdk-nag findings, from CDK's validation report."""
        report = json.loads((self.outdir / "validation-report.json").read_text())
        return [v for plugin in report["pluginReports"] for v in plugin["violations"]]

    @cached_property
    def acknowledgements(self) -> list[tuple[str, str, str]]:
        """(construct path, rule, reason) of every acknowledged cdk-nag finding."""
        metadata = json.loads((self.outdir / f"{self.name}.metadata.json").read_text())
        return [
            (path, rule, reason)
            for path, entries in metadata.items()
            for entry in entries
            if entry["type"] == "aws:cdk:acknowledged-rules"
            for rule, reason in entry["data"].items()
        ]

    @cached_property
    def assets(self) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads((self.outdir / f"{self.name}.assets.json").read_text())
        return manifest

    def asset_path(self, s3_key: str) -> Path:
        """The staged file or folder of the asset a resource's Code/Content points at."""
        asset = self.assets["files"][s3_key.split(".")[0]]
        return self.outdir / str(asset["source"]["path"])


def _cli_environment(outdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env.update(
        CDK_OUTDIR=str(outdir),
        CDK_CONTEXT_JSON=json.dumps(CONTEXT),
        JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    return env


@dataclass
class CliSynth:
    process: subprocess.Popen[bytes]
    outdir: Path

    def template(self, timeout: float = 300) -> dict[str, Any]:
        output, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, output.decode(errors="replace")[-3000:]
        found: dict[str, Any] = json.loads((self.outdir / f"{STACK_NAME}.template.json").read_text())
        return found


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliSynth]:
    """cdk.json's "app" command, run as the CDK CLI runs it (outdir and context through the env)."""
    outdir = tmp_path_factory.mktemp("cli-cdk.out")
    command = shlex.split(CDK_JSON["app"])
    if command[0].startswith(".venv/"):
        command[0] = sys.executable  # the interpreter running these tests is that venv's
    process = subprocess.Popen(
        command, cwd=ROOT, env=_cli_environment(outdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    yield CliSynth(process, outdir)
    if process.poll() is None:
        process.kill()
        process.wait()


def synthesize(outdir: Path, context: dict[str, Any]) -> Synth:
    """``build`` with ``context``, synthesized into ``outdir``; cdk-nag findings are kept, not raised."""
    app = cdk.App(outdir=str(outdir), context=context)
    stack = build(app)
    result = Synth(outdir=outdir, stack=stack)
    try:
        app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        result.error = str(exc)
    return result


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, cli_synth: CliSynth) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"), CONTEXT)


# Every opt-in option on, in a second stage: one more synthesis checks them all, and that the two
# stages could be deployed side by side
OPTIONS: dict[str, Any] = {
    **CONTEXT,
    "stage": "dev",
    "apigateway_cloudwatch_role": "true",
    "reserved_concurrency_scale": "0.5",
    "ai_provider": "bedrock",
    "ai_model_id": "us.amazon.nova-micro-v1:0",
    "cors_allowed_origins": "https://app.example.com, https://admin.example.com",
    "self_sign_up": "false",
    "cognito_ses_from_email": "no-reply@example.com",
    "cognito_ses_region": "eu-west-1",
    "http_domain_name": "api.example.com",
    "http_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/http",
    "websocket_domain_name": "ws.example.com",
    "websocket_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/ws",
    "waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/parley/abc",
    "log_retention_by_function": "api=90, ext_moderation=7",
    "schema_registry": "false",
}


@pytest.fixture(scope="session")
def options_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("options-cdk.out"), OPTIONS)
