"""CDK entry point: `npx cdk synth` / `npx cdk deploy` build Parley from infra/ (see docs/deploy.md)."""

import sys
from pathlib import Path

# CDK reads the routing table, tables, catalog and OpenAPI from the shared layer's own code
sys.path.insert(0, str(Path(__file__).parent / "layers" / "parley" / "python"))

import aws_cdk as cdk

from infra.application import build

app = cdk.App()
build(app)
app.synth()
