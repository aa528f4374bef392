"""The regions Parley deploys to: every commercial region with Lambda, minus those lacking the
EventBridge schema registry, where ``-c schema_registry=false`` deploys without it.

tests/infra/test_regions.py runs cfn-lint over the template for each list (E3006 names a
resource type a region lacks), so a new resource type that a region lacks fails there.
"""

from __future__ import annotations

SUPPORTED_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ca-central-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "me-central-1",
    "me-south-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
# no AWS::EventSchemas::Registry / Schema (cfn-lint E3006): deploy with -c schema_registry=false
WITHOUT_SCHEMA_REGISTRY: tuple[str, ...] = (
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "il-central-1",
    "mx-central-1",
)
