"""cdk-nag's AwsSolutions and Serverless packs, and the one way Parley acknowledges a finding.

Every acknowledgement names the rule (and, for IAM5, the exact finding) and says why, next to the
resource it concerns; the validation report lists them with their reasons, and a test reads it.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

MIN_REASON = 30
PACKS = ("AwsSolutions", "Serverless")


def check(app: cdk.App) -> None:
    """Run both packs on every synth; an unacknowledged finding fails ``cdk synth`` itself."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` and its children."""
    if len(reason) < MIN_REASON:
        raise ValueError(f"say why {rule} is acceptable here, in a sentence")
    pack = rule.split("-", 1)[0]
    if pack not in PACKS:
        raise ValueError(f"{rule} is not a rule of {PACKS}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{pack}::{rule}", reason=reason))
