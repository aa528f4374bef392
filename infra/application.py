"""Builds the CDK app the same way for ``cdk synth`` (app.py) and for the infra tests."""

from __future__ import annotations

import aws_cdk as cdk

from infra import nag
from infra.config import StackConfig
from infra.stack import ParleyStack

STACK_NAME = "Parley"


def build(app: cdk.App) -> ParleyStack:
    """The Parley stack configured from the app's context, checked by cdk-nag at synth."""
    stack = ParleyStack(app, STACK_NAME, config=StackConfig.from_context(app.node))
    nag.check(app)
    return stack
