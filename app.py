"""CDK entry point: `npx cdk synth` / `cdk deploy` build Parley from infra/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "layers" / "parley" / "python"))

import aws_cdk as cdk

from infra.stack import ParleyStack

app = cdk.App()
ParleyStack(app, "Parley", retain_data=app.node.try_get_context("retain_data") != "false")
app.synth()
