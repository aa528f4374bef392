"""The relay on moto's EventBridge: it reads the bus's own rules (ListRules) and publishes only the
events some rule matches, and moto's rules then deliver exactly what it decided to publish."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra.local.provision import SINK_RULE, Provisioned, provision_route
from parley import root
from parley.adapters.eventbridge import EventBridgeRules
from parley.catalog import SYSTEM, ChatSettingsChanged, Envelope, new_event
from parley.extensions.manifest import Manifest
from parley.routing import extension_route
from parley.settings import settings

CHAT = "3a1e7c52-9b4d-4f60-8e21-7d5c3b9a1f04"
GREETER = Manifest(
    id="greeter",
    version="1.0.0",
    name="Greeter",
    description="Says hello when the settings change.",
    events=("ChatSettingsChanged",),
)


def settings_changed(extensions: tuple[str, ...], sequence: int) -> Envelope[Any]:
    data = ChatSettingsChanged(changed_by="alice", changes={}, turn_mode="free", settings={})
    return new_event(
        data, chat_id=CHAT, actor=SYSTEM, occurred_at=datetime.now(UTC), extensions=extensions
    ).with_sequence(sequence)


def without_the_sink() -> None:
    """The tests' catch-all rule wants every event: gone, the bus holds only the deployed routes."""
    events = boto3.client("events", region_name=settings().region)
    targets = events.list_targets_by_rule(Rule=SINK_RULE, EventBusName=settings().bus_name)["Targets"]
    events.remove_targets(Rule=SINK_RULE, EventBusName=settings().bus_name, Ids=[t["Id"] for t in targets])
    events.delete_rule(Name=SINK_RULE, EventBusName=settings().bus_name)


def received(url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=settings().region)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["detail"]["metadata"]["event_id"] for m in messages]


def test_the_relay_reads_the_bus_rules_and_publishes_only_what_one_matches(
    aws: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the deployed routes, plus a third-party extension's rule, and no catch-all sink
    without_the_sink()
    provision_route(settings(), extension_route(GREETER.document()), aws)
    events = boto3.client("events", region_name=settings().region)
    bus_arn = events.describe_event_bus(Name=settings().bus_name)["Arn"]
    events.create_archive(ArchiveName="parley-archive", EventSourceArn=bus_arn)  # a copy, not a consumer
    rules = EventBridgeRules(settings().bus_name).patterns()
    assert extension_route(GREETER.document()).pattern in rules
    assert {"source": [{"prefix": "parley."}]} not in rules
    assert all("replay-name" not in r for r in rules)  # the archive's rule is left out

    # When the relay gets a settings change in a chat that enabled the greeter, and one in a chat
    # that enabled only analytics (which does not subscribe to settings changes)
    greeted, unheard = settings_changed(("greeter",), 5), settings_changed(("analytics",), 6)
    publisher, published = root.publisher(), list[Envelope[Any]]()
    put = publisher.publish

    def spy(batch: Sequence[Envelope[Any]]) -> None:
        published.extend(batch)
        put(batch)

    monkeypatch.setattr(publisher, "publish", spy)
    failed = root.outbox().relay([greeted, unheard])

    # Then only the first is published, and the greeter's queue has it
    assert failed == set()
    assert published == [greeted]
    assert received(aws.queue_urls["ext_greeter"]) == [greeted.metadata.event_id]
    assert not root.wanted_by_rules()(unheard)


def test_a_disabled_rule_still_counts_so_the_archive_keeps_what_it_would_replay(aws: Provisioned) -> None:
    # Given a third-party extension's rule that an operator disabled during an incident
    without_the_sink()
    provision_route(settings(), extension_route(GREETER.document()), aws)
    events = boto3.client("events", region_name=settings().region)
    name = next(
        r["Name"]
        for r in events.list_rules(EventBusName=settings().bus_name)["Rules"]
        if json.loads(r["EventPattern"]) == extension_route(GREETER.document()).pattern
    )
    events.disable_rule(Name=name, EventBusName=settings().bus_name)

    # Then the relay still counts it: its events are published (and archived) for a later replay
    assert extension_route(GREETER.document()).pattern in EventBridgeRules(settings().bus_name).patterns()
    root.reset()
    assert root.wanted_by_rules()(settings_changed(("greeter",), 7))
