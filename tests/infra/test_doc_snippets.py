"""The deployment snippets of README.md and docs/deploy.md, run as written in an author's app folder.

Each is marked ``<!-- example: <name> -->`` before its fenced block (indented blocks included). The
folder holds what the docs tell an author to create: ``extensions/<id>/handler.py`` (README's
welcome bot under that id); the snippets then synthesize for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

SNIPPET = re.compile(
    r"<!-- example: (?P<name>[\w-]+) -->\n(?P<indent> *)```python\n(?P<code>.*?)\n(?P=indent)```", re.DOTALL
)
README = ROOT / "README.md"
DEPLOY = ROOT / "docs" / "deploy.md"


def snippet(doc: Path, name: str) -> str:
    found = {m["name"]: m["code"] for m in SNIPPET.finditer(doc.read_text(encoding="utf-8"))}
    assert name in found, f"{doc.name} has no `<!-- example: {name} -->` python block"
    return textwrap.dedent(found[name])


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    """An author's CDK app folder with extensions/translator and extensions/greeter in it."""
    bot = snippet(README, "welcome-bot")
    for extension_id in ("translator", "greeter"):
        folder = tmp_path / "extensions" / extension_id
        folder.mkdir(parents=True)
        (folder / "handler.py").write_text(bot.replace('id="greeter"', f'id="{extension_id}"'))
    return tmp_path


def synth(folder: Path, app: str) -> None:
    """``python app.py`` in the author's folder, as `cdk synth` runs it (relative asset paths too)."""
    (folder / "app.py").write_text(app)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "parley" / "python"), str(ROOT), str(folder)]),
        "CDK_OUTDIR": str(folder / "cdk.out"),
    }
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_deploy_md_adds_a_lambda_a_queue_and_an_endpoint_extension(app_folder: Path) -> None:
    synth(app_folder, snippet(DEPLOY, "deploy-extension"))
    template = json.loads((app_folder / "cdk.out" / "Parley.template.json").read_text())
    rules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    routed = {json.dumps(r["EventPattern"].get("detail", {}).get("metadata")) for r in rules}
    for extension_id in ("translator", "crm", "partner"):
        assert json.dumps({"extensions": [extension_id]}) in routed, extension_id


def test_deploy_md_deploys_from_another_app_by_the_stack_name(app_folder: Path) -> None:
    synth(app_folder, snippet(DEPLOY, "deploy-extension-cross-stack"))
    rendered = json.dumps(
        json.loads((app_folder / "cdk.out" / "TranslatorExtension.template.json").read_text())
    )
    assert json.dumps({"Fn::ImportValue": "Parley-ParleyBusArn"}) in rendered


README_APP = """import aws_cdk as cdk

from tests.infra.test_extensions import _host

app = cdk.App()
stack = cdk.Stack(app, "Small")
stack.extension_host = _host(stack)  # what `stack = build(app)` offers, alone
{snippet}
app.synth()
"""


def test_readme_deploys_its_greeter_with_one_construct(app_folder: Path) -> None:
    synth(app_folder, README_APP.replace("{snippet}", snippet(README, "readme-deploy")))
    template = json.loads((app_folder / "cdk.out" / "Small.template.json").read_text())
    rules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert [r["EventPattern"]["detail"]["metadata"] for r in rules] == [{"extensions": ["greeter"]}]
