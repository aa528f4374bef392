"""Builds the CDK app the same way for ``cdk synth`` (app.py) and for the infra tests."""

from __future__ import annotations

import aws_cdk as cdk

from infra import nag
from infra.config import DEFAULT_STACK_NAME, StackConfig
from infra.stack import ParleyStack

STACK_NAME = DEFAULT_STACK_NAME


def build(app: cdk.App) -> ParleyStack:
    """The Parley stack configured from the app's context, checked by cdk-nag at synth.

    Its name is ``Parley``, or ``Parley-<stage>`` with ``-c stage=<stage>``."""
    config = StackConfig.from_context(app.node)
    stack = ParleyStack(app, config.stack_name, config=config)
    nag.check(app)
    return stack
