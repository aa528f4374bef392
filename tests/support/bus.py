"""Drive the bus in tests: pump routed events into handlers, and read what the event sink caught."""

from __future__ import annotations

import json
from typing import Any

import boto3

from infra.local.dispatch import deliver_once
from infra.local.functions import load_handler
from infra.local.provision import Provisioned
from parley.topology import all_routes


class Bus:
    def __init__(self, provisioned: Provisioned, region: str = "us-east-1") -> None:
        self.provisioned = provisioned
        self.region = region
        self.sqs = boto3.client("sqs", region_name=region)
        self._seen: list[dict[str, Any]] = []

    def pump(self, max_rounds: int = 50) -> int:
        """Deliver queued events to their handlers until every route's queue is empty."""
        delivered = 0
        for _ in range(max_rounds):
            progress = 0
            for route in all_routes():
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
            if not progress:
                return delivered
        raise AssertionError("the bus did not settle")

    def raw_queue(self, route_name: str) -> list[dict[str, Any]]:
        """Take every message waiting on a route's queue without delivering it."""
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

    def emitted(self) -> list[dict[str, Any]]:
        """Every event the catch-all sink has caught so far, as EventBridge events, in arrival order."""
        assert self.provisioned.sink_url is not None
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
