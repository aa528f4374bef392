"""The local dispatcher: long-polls each route's queue on moto and runs its handler in-process.

Like Lambda's SQS event source: batches, partial batch responses, a failed record comes back after
a backoff (the visibility timeout) and the queue's redrive policy dead-letters it after the route's
``max_attempts``. ``redrive`` puts dead-lettered events back.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.local.dispatch import LambdaContext, sqs_event
from infra.local.functions import load_handler
from infra.local.provision import Provisioned
from parley.observability import logger
from parley.routing import Route
from parley.topology import all_routes


@dataclass
class RouteStats:
    deliveries: int = 0
    succeeded: int = 0
    retries: int = 0
    invocations: int = 0


@dataclass
class Stats:
    routes: dict[str, RouteStats] = field(
        default_factory=lambda: {r.name: RouteStats() for r in all_routes()}
    )
    events: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Dispatcher:
    def __init__(self, provisioned: Provisioned, region: str, *, workers_per_route: int = 2) -> None:
        self._provisioned = provisioned
        self._region = region
        self._workers = workers_per_route
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.stats = Stats()
        self._sqs = boto3.client("sqs", region_name=region)
        self._arns: dict[str, str] = {}

    def start(self) -> None:
        for route in all_routes():
            load_handler(route.function)  # import (cold start) now, not on the first event
            url = self._provisioned.queue_urls[route.name]
            self._arns[route.name] = self._sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            for n in range(self._workers):
                thread = threading.Thread(
                    target=self._run, args=(route,), name=f"dispatch-{route.name}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=3)

    def _run(self, route: Route) -> None:
        sqs = boto3.client("sqs", region_name=self._region)
        url = self._provisioned.queue_urls[route.name]
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=route.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    self._deliver(sqs, route, url, messages)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("dispatcher loop failed", extra={"route": route.name})
                self._stop.wait(1)

    def _deliver(self, sqs: Any, route: Route, url: str, messages: list[dict[str, Any]]) -> None:
        handler = load_handler(route.function)
        failed: set[str]
        try:
            result = handler(
                sqs_event(messages, self._arns[route.name], self._region),
                LambdaContext.for_function(route.function, self._region),
            )
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:
            logger.exception("handler invocation failed", extra={"route": route.name})
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in messages:
            if message["MessageId"] in failed:
                attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                delay = int(min(900, route.retry.backoff_seconds * 2 ** (attempt - 1)))
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
                )
        with self.stats.lock:
            stats = self.stats.routes[route.name]
            stats.invocations += 1
            stats.deliveries += len(messages)
            stats.succeeded += len(done)
            stats.retries += len(messages) - len(done)

    def dead_lettered(self) -> dict[str, int]:
        counts = {}
        for route in all_routes():
            attrs = self._sqs.get_queue_attributes(
                QueueUrl=self._provisioned.dlq_urls[route.name],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
            counts[route.name] = int(attrs["ApproximateNumberOfMessages"])
        return counts

    def redrive(self) -> dict[str, int]:
        """Move every dead-lettered event back to its route's queue; returns how many per route."""
        moved: dict[str, int] = {}
        for route in all_routes():
            dlq, queue = self._provisioned.dlq_urls[route.name], self._provisioned.queue_urls[route.name]
            moved[route.name] = 0
            while True:
                batch = self._sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    break
                self._sqs.send_message_batch(
                    QueueUrl=queue,
                    Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(batch)],
                )
                self._sqs.delete_message_batch(
                    QueueUrl=dlq,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                    ],
                )
                moved[route.name] += len(batch)
        return moved

    def snapshot(self) -> dict[str, Any]:
        dead = self.dead_lettered()
        with self.stats.lock:
            return {
                "events": dict(self.stats.events),
                "targets": {
                    name: {**s.__dict__, "dead_lettered": dead.get(name, 0)}
                    for name, s in self.stats.routes.items()
                },
            }

    def count_published(self, detail_types: list[str]) -> None:
        with self.stats.lock:
            self.stats.events.update(detail_types)
