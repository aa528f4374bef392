"""The local dispatcher: reads each route's queue, and the events table's stream, on moto and runs
the handlers in-process.

Queue routes, like Lambda's SQS event source: batches, partial batch responses, a failed record
comes back after a backoff (the visibility timeout) and the queue's redrive policy dead-letters it
after the route's ``max_attempts``. Stream routes (the broadcaster, the relay to the bus), like
Lambda's DynamoDB stream event source (``infra.local.streams``). ``redrive`` puts dead-lettered
events back.

No busy polling: each queue worker long-polls (20 s, as Lambda's event source does), and moto
answers the moment a record arrives; a stream reader wakes on every write of this process to the
events table (``notify_written``; other tables have no stream) and otherwise looks every
``STREAM_IDLE_SECONDS``. The fault points
``deliver.duplicate``, ``deliver.reorder`` (queues only: a stream hands a shard's records in order)
and ``handler.crash`` fire here.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.local.dispatch import LambdaContext, sqs_event
from infra.local.faults import Faults
from infra.local.functions import load_handler
from infra.local.provision import Provisioned
from infra.local.streams import StreamReader, StreamRoute, WriteSignal, event_id_of, streams_client
from parley.observability import logger
from parley.routing import Route
from parley.topology import all_routes, queue_routes, stream_routes


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


DELIVERED_MEMORY = 200_000
"""Event ids remembered per route as acked (for /local/delivered), newest kept."""
LONG_POLL_SECONDS = 20
STREAM_IDLE_SECONDS = 0.5
"""How often an idle stream reader looks anyway (writes from another process wake no one)."""
DELIVERY_FAULTS = ("deliver.duplicate", "deliver.reorder", "handler.crash")


def _event_id(message: dict[str, Any]) -> str:
    try:
        return str(json.loads(message["Body"])["detail"]["metadata"]["event_id"])
    except (ValueError, KeyError, TypeError):
        return str(message.get("MessageId", ""))


def _event_key(route: str, message: dict[str, Any]) -> str:
    """A record's identity for fault recovery: the route and the event's own id (redrive keeps it)."""
    return f"{route}:{_event_id(message)}"


class Delivered:
    """Which events each route acked, bounded: what ``make chaos`` checks routing against."""

    def __init__(self, limit: int = DELIVERED_MEMORY) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._acked: dict[str, dict[str, None]] = {}

    def add(self, route: str, event_ids: list[str]) -> None:
        with self._lock:
            acked = self._acked.setdefault(route, {})
            for event_id in event_ids:
                acked[event_id] = None
            while len(acked) > self._limit:
                del acked[next(iter(acked))]

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {route: list(ids) for route, ids in self._acked.items()}


class Dispatcher:
    def __init__(
        self,
        provisioned: Provisioned,
        region: str,
        *,
        workers_per_route: int = 2,
        faults: Faults | None = None,
        max_backoff_seconds: float | None = None,
    ) -> None:
        self._provisioned = provisioned
        self._region = region
        self._workers = workers_per_route
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.stats = Stats()
        self._sqs = boto3.client("sqs", region_name=region)
        self._arns: dict[str, str] = {}
        self._faults = faults or Faults(0)
        self.delivered = Delivered()
        cap = max_backoff_seconds
        if cap is None:
            cap = float(os.environ.get("PARLEY_LOCAL_MAX_BACKOFF_SECONDS", "900"))
        self._max_backoff = max(0.0, min(900.0, cap))
        self._written = WriteSignal()
        self._streams: dict[str, StreamRoute] = {}
        self._seen: dict[str, int] = {}

    def notify_written(self) -> None:
        """A DynamoDB write happened in this process: stream readers look now."""
        self._written.bump()

    def start(self) -> None:
        self.start_streams()
        self.start_queues()

    def start_streams(self) -> None:
        """A reader per stream route (each keeps its own position, as each event source mapping does)."""
        for route in stream_routes():
            load_handler(route.function)
            self._streams[route.name] = StreamRoute(
                route,
                StreamReader(streams_client(self._region), self._provisioned.stream_arn),
                self._provisioned.stream_arn,
                self._region,
                self._provisioned.dlq_urls[route.name],
                self._sqs,
            )
            self._seen[route.name] = -1
            thread = threading.Thread(
                target=self._run_stream, args=(route,), name=f"stream-{route.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def start_queues(self) -> None:
        """``workers_per_route`` long-polling workers per queue route."""
        for route in queue_routes():
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

    def stop(self, wait_seconds: float = 3.0) -> None:
        """Workers finish the batch in hand; one waiting on a long poll ends when moto stops."""
        self._stop.set()
        deadline = time.monotonic() + wait_seconds
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self, route: Route) -> None:
        sqs = boto3.client("sqs", region_name=self._region)
        url = self._provisioned.queue_urls[route.name]
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=route.batch_size,
                    WaitTimeSeconds=LONG_POLL_SECONDS,
                    AttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    self._deliver(sqs, route, url, messages)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("dispatcher loop failed", extra={"route": route.name})
                self._stop.wait(1)

    def _run_stream(self, route: Route) -> None:
        stream = self._streams[route.name]
        while not self._stop.is_set():
            try:
                generation = self._written.generation
                stream.poll()
                self._seen[route.name] = generation
                if stream.in_flight():
                    self._deliver_stream(route, stream)
                    if stream.retry_at > time.monotonic():
                        self._stop.wait(min(0.05, stream.retry_at - time.monotonic()))
                else:
                    self._written.wait(generation, STREAM_IDLE_SECONDS)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("stream reader failed", extra={"route": route.name})
                self._stop.wait(1)

    def _deliver_stream(self, route: Route, stream: StreamRoute) -> None:
        faults = self._faults

        def crash(batch: list[dict[str, Any]]) -> bool:
            return faults.fire("handler.crash", keys=[f"{route.name}:{event_id_of(r)}" for r in batch])

        backoff = min(self._max_backoff, route.retry.backoff_seconds)
        outcome = stream.deliver(load_handler(route.function), backoff=backoff, crash=crash)
        if not outcome.delivered and not outcome.failed:
            return
        ids = [event_id_of(r) for r in outcome.delivered]
        for event_id in ids:
            faults.succeeded(f"{route.name}:{event_id}", DELIVERY_FAULTS)
        self.delivered.add(route.name, ids)
        again = [
            r
            for r in outcome.delivered
            if faults.fire("deliver.duplicate", key=f"{route.name}:{event_id_of(r)}")
        ]
        stream.offer(again)  # at-least-once: the same records, handed over once more later
        with self.stats.lock:
            stats = self.stats.routes[route.name]
            stats.invocations += 1
            stats.deliveries += len(outcome.delivered) + outcome.failed
            stats.succeeded += len(outcome.delivered)
            stats.retries += outcome.failed

    def _deliver(self, sqs: Any, route: Route, url: str, messages: list[dict[str, Any]]) -> None:
        handler = load_handler(route.function)
        faults = self._faults
        keys = [_event_key(route.name, m) for m in messages]
        if len(messages) > 1 and faults.fire("deliver.reorder", keys=keys):
            messages = faults.shuffled(messages)
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
        if faults.fire("handler.crash", keys=keys):
            failed = {m["MessageId"] for m in messages}  # its effects happened; the acks did not
        done = [m for m in messages if m["MessageId"] not in failed]
        for message in done:
            faults.succeeded(_event_key(route.name, message), DELIVERY_FAULTS)
        self.delivered.add(route.name, [_event_id(m) for m in done])
        again = [m for m in done if faults.fire("deliver.duplicate", key=_event_key(route.name, m))]
        if again:  # at-least-once: the same record, delivered once more later
            sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(again)]
            )
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in messages:
            if message["MessageId"] in failed:
                attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                delay = int(min(self._max_backoff, route.retry.backoff_seconds * 2 ** (attempt - 1)))
                try:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
                    )
                except ClientError:  # already visible again and received elsewhere: it is retried anyway
                    logger.warning("backoff not set", extra={"route": route.name})
        with self.stats.lock:
            stats = self.stats.routes[route.name]
            stats.invocations += 1
            stats.deliveries += len(messages)
            stats.succeeded += len(done)
            stats.retries += len(messages) - len(done)

    def _depth(self, url: str) -> int:
        """Records on a queue: waiting, being handled, or waiting out their backoff."""
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def dead_lettered(self) -> dict[str, int]:
        return {r.name: self._depth(self._provisioned.dlq_urls[r.name]) for r in all_routes()}

    def in_flight(self) -> dict[str, int]:
        """Per route, deliveries not yet acked or dead-lettered; a stream route also counts one while
        it has not read past the last write (its new records are not known yet)."""
        counts = {r.name: self._depth(self._provisioned.queue_urls[r.name]) for r in queue_routes()}
        for name, stream in self._streams.items():
            unread = int(self._seen.get(name, -1) != self._written.generation)
            counts[name] = stream.in_flight() + unread
        return counts

    def redrive(self) -> dict[str, int]:
        """Move every dead-lettered event back to its route's queue, or read a stream route's
        dead-lettered batches back from the stream; returns how many per route."""
        moved: dict[str, int] = {name: stream.redrive() for name, stream in self._streams.items()}
        for route in queue_routes():
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
        dead, in_flight = self.dead_lettered(), self.in_flight()
        with self.stats.lock:
            return {
                "events": dict(self.stats.events),
                "in_flight": sum(in_flight.values()),
                "dead_lettered": sum(dead.values()),
                "targets": {
                    name: {
                        **s.__dict__,
                        "in_flight": in_flight.get(name, 0),
                        "dead_lettered": dead.get(name, 0),
                    }
                    for name, s in self.stats.routes.items()
                },
            }

    def count_published(self, detail_types: list[str]) -> None:
        with self.stats.lock:
            self.stats.events.update(detail_types)
