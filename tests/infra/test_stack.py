"""The synthesized template agrees with the routing table and the table definitions the code uses."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from infra.specs import NOT_YET_DEPLOYED, deployed_routes
from parley.adapters.tables import TABLES, spec
from parley.routing import Route
from parley.topology import all_routes
from tests.infra.conftest import CliSynth, Synth


def _strip_cdk_metadata(template: dict[str, Any]) -> dict[str, Any]:
    resources = {
        k: {key: value for key, value in v.items() if key != "Metadata"}
        for k, v in template["Resources"].items()
        if v["Type"] != "AWS::CDK::Metadata"
    }
    return {**template, "Resources": resources}


def test_cdk_json_app_synthesizes_the_same_template(synth: Synth, cli_synth: CliSynth) -> None:
    # Given cdk.json's "app" run the way `npx cdk synth` runs it, with the same context
    # Then it writes the template the tests check (CLI-only metadata aside)
    assert _strip_cdk_metadata(cli_synth.template()) == _strip_cdk_metadata(synth.template)


def queued() -> list[Route]:
    """The deployed routes fed by a rule and a queue (the stream routes have neither)."""
    return [r for r in deployed_routes() if r.delivery == "queue"]


def test_every_route_has_a_rule_with_the_same_pattern_or_is_explicitly_deferred(synth: Synth) -> None:
    patterns = [r["Properties"]["EventPattern"] for r in synth.resources("AWS::Events::Rule").values()]
    assert len(patterns) == len(queued())
    for route in all_routes():
        if route.delivery == "stream":
            assert route.pattern not in patterns, f"{route.name} reads the stream but has a rule"
        elif route.function in NOT_YET_DEPLOYED:
            assert route.pattern not in patterns, f"{route.name} is deferred but has a rule"
        else:
            assert route.pattern in patterns, f"no rule with the pattern of route {route.name}"


def test_each_route_target_has_its_retry_policy_and_dead_letter_queue(synth: Synth) -> None:
    for route in queued():
        synth.assertions.has_resource_properties(
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
        for q in synth.resources("AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    ]
    assert sorted(redrives) == sorted(r.retry.max_attempts for r in queued())


def test_tables_match_the_pynamodb_definitions(synth: Synth) -> None:
    tables = list(synth.resources("AWS::DynamoDB::GlobalTable").values())
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


def test_tables_keep_ttl_pitr_and_follow_the_context_settings(synth: Synth) -> None:
    # Given cdk.json's context: deletion protection on, removal policy retain
    for table in synth.resources("AWS::DynamoDB::GlobalTable").values():
        replica = table["Properties"]["Replicas"][0]
        assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert replica["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"
    ttl = {
        t["Properties"]["TimeToLiveSpecification"]["AttributeName"]
        for t in synth.resources("AWS::DynamoDB::GlobalTable").values()
        if "TimeToLiveSpecification" in t["Properties"]
    }
    assert ttl == {t.ttl_attribute for t in TABLES if t.ttl_attribute}


def test_the_events_table_streams_new_rows_and_has_no_outbox_index(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    events = synth.logical_id(synth.stack.storage.tables["events"])
    # only the events table has a stream: it is the outbox; no other table pays for one
    streamed = {
        k: t["Properties"]["StreamSpecification"]
        for k, t in tables.items()
        if "StreamSpecification" in t["Properties"]
    }
    assert streamed == {events: {"StreamViewType": "NEW_IMAGE"}}
    indexes = [
        i["IndexName"] for t in tables.values() for i in t["Properties"].get("GlobalSecondaryIndexes", [])
    ]
    assert "outbox" not in indexes


def test_each_stream_route_reads_the_events_stream_with_its_filter_retries_bisect_and_dlq(
    synth: Synth,
) -> None:
    stream_routes = [r for r in deployed_routes() if r.delivery == "stream"]
    assert sorted(r.name for r in stream_routes) == ["broadcaster", "relay"]
    for route in stream_routes:
        dlq = synth.logical_id(synth.stack.events.streams[route.name].dlq)
        function = synth.logical_id(synth.stack.functions.functions[route.function])
        synth.assertions.has_resource_properties(
            "AWS::Lambda::EventSourceMapping",
            {
                "FunctionName": {"Ref": function},
                "EventSourceArn": Match.object_like({"Fn::GetAtt": Match.array_with(["StreamArn"])}),
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": route.batch_size,
                "BisectBatchOnFunctionError": True,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "MaximumRetryAttempts": route.retry.max_attempts,
                "MaximumRecordAgeInSeconds": route.retry.max_event_age_seconds,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq, "Arn"]}}},
                "FilterCriteria": {
                    "Filters": [{"Pattern": json.dumps(route.stream_filter, separators=(",", ":"))}]
                },
            },
        )


def test_an_archive_keeps_every_parley_event_but_ephemeral_messages_for_replay(synth: Synth) -> None:
    synth.assertions.has_resource_properties(
        "AWS::Events::Archive",
        {
            "EventPattern": {
                "source": [{"prefix": "parley."}],
                # a message for one member is never stored: not in the archive either; nor the requests
                # the gateway records as events of their own (an update request as MessageUpdated, a
                # workflow run's report as WorkflowRun, a floor or settings request as TurnChanged or
                # ChatSettingsChanged: those are archived)
                "detail-type": [
                    {
                        "anything-but": [
                            "ExtensionEphemeralRequested",
                            "ExtensionFloorRequested",
                            "ExtensionMessageUpdateRequested",
                            "ExtensionSettingsRequested",
                            "WorkflowRunReported",
                        ]
                    }
                ],
            }
        },
    )


def test_outputs_name_what_a_client_needs(synth: Synth) -> None:
    assert {"HttpApiUrl", "WebSocketUrl", "BusName", "UserPoolId", "UserPoolClientId"} <= set(
        synth.template["Outputs"]
    )
