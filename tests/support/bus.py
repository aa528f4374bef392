"""Drive the bus in tests: relay committed events (the events table's stream) to the bus, pump
routed events into handlers, and read what the event sink caught."""

from __future__ import annotations

import json
from typing import Any

import boto3

from infra.local.dispatch import deliver_once
from infra.local.functions import load_handler
from infra.local.provision import Provisioned
from infra.local.streams import StreamReader, StreamRoute, streams_client
from parley.topology import queue_routes, stream_routes

BATCHES_PER_ROUND = 100
"""Batches a route may take in one round of ``pump`` (its backlog, not a cause-and-effect step)."""


class Bus:
    def __init__(self, provisioned: Provisioned, region: str = "us-east-1") -> None:
        self.provisioned = provisioned
        self.region = region
        self.sqs = boto3.client("sqs", region_name=region)
        self._seen: list[dict[str, Any]] = []
        self._streams: dict[str, StreamRoute] | None = None

    def streams(self) -> dict[str, StreamRoute]:
        """Each stream route's position, from the stream's start (made on first use)."""
        if self._streams is None:
            arn = self.provisioned.stream_arn
            self._streams = {
                r.name: StreamRoute(
                    r,
                    StreamReader(streams_client(self.region), arn),
                    arn,
                    self.region,
                    self.provisioned.dlq_urls[r.name],
                    self.sqs,
                )
                for r in stream_routes()
            }
        return self._streams

    def drain_stream(self, route_name: str) -> int:
        """Hand a stream route every new record (retrying at once, as often as the route allows)."""
        stream = self.streams()[route_name]
        stream.poll()
        delivered = 0
        while stream.in_flight():
            outcome = stream.deliver(load_handler(stream.route.function))
            delivered += len(outcome.delivered)
        return delivered

    def relay(self) -> int:
        """Put every committed event on the bus, as the relay on the events table's stream does."""
        return self.drain_stream("relay")

    def pump(self, max_rounds: int = 50) -> int:
        """Relay committed events and deliver routed ones to their handlers until nothing is left."""
        delivered = 0
        for _ in range(max_rounds):
            progress = 0
            for name in self.streams():
                count = self.drain_stream(name)
                progress += count
                delivered += count
            for route in queue_routes():
                # a route's whole backlog per round: a round is one step of cause and effect, so the
                # bound catches events that keep causing events, not a long queue
                for _batch in range(BATCHES_PER_ROUND):
                    result = deliver_once(
                        self.sqs,
                        self.provisioned.queue_urls[route.name],
                        load_handler(route.function),
                        route.function,
                        batch_size=route.batch_size,
                        region=self.region,
                    )
                    progress += result.delivered + result.failed
                    delivered += result.delivered
                    if not result.delivered:
                        break
            if not progress:
                return delivered
        raise AssertionError("the bus did not settle")

    def raw_queue(self, route_name: str) -> list[dict[str, Any]]:
        """Take every message waiting on a route's queue without delivering it (committed events are
        relayed to the bus first)."""
        self.relay()
        url = self.provisioned.queue_urls[route_name]
        taken: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return taken
            taken.extend(batch)
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def emitted(self, *, relay: bool = True) -> list[dict[str, Any]]:
        """Every event the catch-all sink has caught so far, as EventBridge events, in arrival order
        (committed events are relayed to the bus first)."""
        assert self.provisioned.sink_url is not None
        if relay:
            self.relay()
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.provisioned.sink_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return list(self._seen)
            self._seen.extend(json.loads(m["Body"]) for m in batch)
            self.sqs.delete_message_batch(
                QueueUrl=self.provisioned.sink_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def emitted_types(self) -> list[str]:
        return [e["detail-type"] for e in self.emitted()]
