"""Provision tables, the bus, one rule -> queue (with DLQ) per queue route and a DLQ per stream route,
from the shared definitions.

Used by the integration tests today and by the local stack (`make dev`); CDK builds the same
resources from the same routing table and table models, so local and AWS cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.local.functions import load_handler
from parley.adapters import tables
from parley.adapters.extensions import Registry
from parley.extensions import hooks
from parley.routing import Route
from parley.settings import Settings
from parley.topology import extension_manifests, queue_routes, stream_routes

SINK_RULE = "parley-event-sink"
SINK_PATTERN: dict[str, Any] = {"source": [{"prefix": "parley."}]}


@dataclass
class Provisioned:
    bus_arn: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    sink_url: str | None = None
    stream_arn: str = ""
    """The events table's stream, which the stream routes read (their DLQs are in ``dlq_urls``)."""


HANDLING_SECONDS = 60
"""How long a received record stays hidden while its handler runs (as a Lambda timeout bounds it);
shorter, and a slow batch under load is handed to a second worker while the first still runs it.
A failed record's backoff is set per record by the dispatcher, not by this timeout."""


def create_tables(settings: Settings) -> None:
    tables.bind(settings)
    client = boto3.client("dynamodb", region_name=settings.region)
    for table in tables.TABLES:
        if not table.model.exists():
            table.model.create_table(wait=True)
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=getattr(settings, table.setting),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def _queue(sqs: Any, name: str, attributes: dict[str, str] | None = None) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _target_queue(
    sqs: Any,
    events: Any,
    bus: str,
    rule: str,
    pattern: dict[str, Any],
    name: str,
    attributes: dict[str, str] | None = None,
) -> str:
    url, arn = _queue(sqs, name, attributes)
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": name, "Arn": arn}])
    return url


def provision_route(settings: Settings, route: Route, provisioned: Provisioned) -> None:
    sqs = boto3.client("sqs", region_name=settings.region)
    events = boto3.client("events", region_name=settings.region)
    dlq_url, dlq_arn = _queue(sqs, route.dlq_name)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": route.retry.max_attempts})
    provisioned.dlq_urls[route.name] = dlq_url
    provisioned.queue_urls[route.name] = _target_queue(
        sqs,
        events,
        settings.bus_name,
        route.rule_name,
        route.pattern,
        route.queue_name,
        {
            "RedrivePolicy": redrive,
            "VisibilityTimeout": str(max(HANDLING_SECONDS, int(route.retry.backoff_seconds))),
        },
    )


def register_extensions() -> None:
    """Register the deployed extensions, shipped or added from outside (CDK's Extension construct does it
    in AWS), and let hooks call their handlers in-process, as the dispatcher does for their queues."""
    registry = Registry()
    for manifest in extension_manifests():
        registry.register(manifest.document())
    hooks.register_loader(load_handler)


def provision(settings: Settings, *, sink: bool = False) -> Provisioned:
    """Create everything; ``sink`` adds a catch-all rule into a queue so tests can see every event."""
    create_tables(settings)
    events = boto3.client("events", region_name=settings.region)
    bus_arn = events.create_event_bus(Name=settings.bus_name)["EventBusArn"]
    client = boto3.client("dynamodb", region_name=settings.region)
    stream = client.describe_table(TableName=settings.events_table)["Table"]["LatestStreamArn"]
    provisioned = Provisioned(bus_arn=bus_arn, stream_arn=stream)
    for route in queue_routes():
        provision_route(settings, route, provisioned)
    sqs = boto3.client("sqs", region_name=settings.region)
    for route in stream_routes():
        # no rule and no queue: the route reads the stream; its DLQ is the on-failure destination
        provisioned.dlq_urls[route.name] = _queue(sqs, route.dlq_name)[0]
    register_extensions()
    if sink:
        provisioned.sink_url = _target_queue(
            sqs, events, settings.bus_name, SINK_RULE, SINK_PATTERN, "parley-event-sink"
        )
    return provisioned
