"""The synthesized template agrees with the routing table and the table definitions the code uses."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.stack import ParleyStack
from parley.adapters.tables import TABLES, spec
from parley.routing import ROUTES


@pytest.fixture(scope="module")
def template() -> Template:
    app = cdk.App()
    return Template.from_stack(ParleyStack(app, "Parley", retain_data=True))


def resources(template: Template, kind: str) -> dict[str, Any]:
    found = dict(template.find_resources(kind))
    return found


def test_one_rule_per_route_with_the_same_pattern(template: Template) -> None:
    rules = resources(template, "AWS::Events::Rule")
    patterns = [r["Properties"]["EventPattern"] for r in rules.values()]
    # one rule per route, plus nothing else for now
    assert len(rules) == len(ROUTES)
    for route in ROUTES:
        assert route.pattern in patterns, f"no rule with the pattern of route {route.name}"


def test_each_route_target_has_its_retry_policy_and_dead_letter_queue(template: Template) -> None:
    for route in ROUTES:
        template.has_resource_properties(
            "AWS::Events::Rule",
            {
                "EventPattern": route.pattern,
                "Targets": [
                    Match.object_like(
                        {
                            "RetryPolicy": {
                                "MaximumRetryAttempts": route.retry.max_attempts,
                                "MaximumEventAgeInSeconds": route.retry.max_event_age_seconds,
                            },
                            "DeadLetterConfig": Match.object_like({"Arn": Match.any_value()}),
                        }
                    )
                ],
            },
        )
    redrives = [
        q["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        for q in resources(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    ]
    assert sorted(redrives) == sorted(r.retry.max_attempts for r in ROUTES)


def test_tables_match_the_pynamodb_definitions(template: Template) -> None:
    tables = list(resources(template, "AWS::DynamoDB::GlobalTable").values())
    assert len(tables) == len(TABLES)
    schemas = []
    for table in tables:
        props = table["Properties"]
        keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        schemas.append((keys.get("HASH"), keys.get("RANGE")))
        assert props["BillingMode"] == "PAY_PER_REQUEST"
    for definition in TABLES:
        s = spec(definition)
        expected = (s["partition_key"]["name"], s["sort_key"]["name"] if s["sort_key"] else None)
        assert expected in schemas, f"{definition.key} has no matching table"


def test_the_outbox_index_and_the_idempotency_ttl_exist(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {"GlobalSecondaryIndexes": [Match.object_like({"IndexName": "outbox"})]},
    )
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {"TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True}},
    )


def test_an_archive_keeps_every_parley_event_for_replay(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Archive", {"EventPattern": {"source": [{"prefix": "parley."}]}}
    )
