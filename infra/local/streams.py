"""The events table's stream, read as Lambda's DynamoDB event source mapping reads it, for the local
stack and the tests.

Each stream route (``Route.delivery == "stream"``: the broadcaster, the relay) has its own position
in the stream, as each event source mapping has in AWS. Its new records pass the route's filter
(``Route.stream_filter``) and go to its handler in batches, in order. A failure (an exception, or a
batch item failure naming a record) hands that record and the ones after it back, after a backoff;
after the route's ``max_attempts`` a batch of several records is halved (``BisectBatchOnFunctionError``)
until the failing record is alone, which is then skipped and its position (AWS's
``DDBStreamBatchInfo``) goes to the route's DLQ, the on-failure destination. ``redrive`` reads those
positions back from the stream (24 h in AWS) and hands the records to the route again.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from infra.local.dispatch import LambdaContext
from infra.local.functions import Handler
from parley.adapters.event_rows import EventRowError, image_detail
from parley.observability import logger
from parley.routing import Route

READ_LIMIT = 1000
"""GetRecords' own maximum per call."""


def streams_client(region: str) -> Any:
    """The DynamoDB Streams client: the local stack's endpoint, or the plain regional one, which
    in-process moto intercepts (botocore's account-based endpoint is not one moto knows)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"https://streams.dynamodb.{region}.amazonaws.com"
    return boto3.client("dynamodbstreams", region_name=region, endpoint_url=endpoint)


def stream_arn(table_name: str, region: str) -> str:
    table = boto3.client("dynamodb", region_name=region).describe_table(TableName=table_name)["Table"]
    return str(table["LatestStreamArn"])


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's filter matching, as far as ``Route.stream_filter`` uses it: nested fields, and a
    list of allowed values."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    return value in pattern


def lambda_record(record: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    """GetRecords' record as Lambda's event source mapping hands it (epoch seconds, binaries as
    base64 text, source ARN)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    if "NewImage" in dynamodb:
        dynamodb["NewImage"] = {k: _as_text(v) for k, v in dynamodb["NewImage"].items()}
    return {**record, "dynamodb": dynamodb, "eventSourceARN": arn, "awsRegion": region}


def _as_text(value: dict[str, Any]) -> dict[str, Any]:
    raw = value.get("B")
    return {"B": base64.b64encode(raw).decode()} if isinstance(raw, bytes | bytearray) else value


class StreamReader:
    """New records of one stream, in order, from its start (each route keeps its own reader)."""

    def __init__(self, client: Any, arn: str) -> None:
        self._client = client
        self._arn = arn
        self._iterators: dict[str, str | None] = {}

    def read(self) -> list[tuple[str, dict[str, Any]]]:
        """New records, each with its shard id."""
        if not self._iterators or any(it is None for it in self._iterators.values()):
            self._refresh()
        records: list[tuple[str, dict[str, Any]]] = []
        for shard, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            answer = self._client.get_records(ShardIterator=iterator, Limit=READ_LIMIT)
            self._iterators[shard] = answer.get("NextShardIterator")
            records.extend((shard, r) for r in answer.get("Records", []))
        return records

    def _refresh(self) -> None:
        shards = self._client.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self._client.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def between(self, shard: str, first: str, last: str) -> list[dict[str, Any]]:
        """The records of ``shard`` from sequence number ``first`` to ``last`` (a DLQ entry's batch)."""
        iterator: str | None = self._client.get_shard_iterator(
            StreamArn=self._arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=first
        )["ShardIterator"]
        found: list[dict[str, Any]] = []
        while iterator:
            answer = self._client.get_records(ShardIterator=iterator, Limit=READ_LIMIT)
            batch = answer.get("Records", [])
            found += [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) <= int(last)]
            if not batch or int(batch[-1]["dynamodb"]["SequenceNumber"]) >= int(last):
                return found
            iterator = answer.get("NextShardIterator")
        return found


def event_id_of(record: dict[str, Any]) -> str:
    try:
        return str(json.loads(image_detail(record["dynamodb"]["NewImage"]))["metadata"]["event_id"])
    except (ValueError, KeyError, TypeError, EventRowError):
        return str(record.get("eventID", ""))


@dataclass
class Outcome:
    delivered: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    dead_lettered: int = 0


Crash = Callable[[list[dict[str, Any]]], bool]
"""Asked after a handled batch: True drops the acks (``handler.crash``); effects stay."""


class StreamRoute:
    """One stream route's position and retry state, as its event source mapping keeps them."""

    def __init__(
        self, route: Route, reader: StreamReader, arn: str, region: str, dlq_url: str, sqs: Any
    ) -> None:
        self.route = route
        self.reader = reader
        self._arn = arn
        self._region = region
        self._dlq_url = dlq_url
        self._sqs = sqs
        self._lock = threading.Lock()
        self.pending: list[dict[str, Any]] = []
        self._shards: dict[str, str] = {}
        self.attempts = 0
        self.retry_at = 0.0
        self.window = route.batch_size

    def poll(self) -> int:
        """Read what the stream holds past this route's position; keep what its filter passes."""
        fresh = []
        for shard, record in self.reader.read():
            if matches(self.route.stream_filter, record):
                fresh.append(lambda_record(record, self._arn, self._region))
                self._shards[str(record["dynamodb"]["SequenceNumber"])] = shard
        self.offer(fresh)
        return len(fresh)

    def offer(self, records: list[dict[str, Any]], *, first: bool = False) -> None:
        with self._lock:
            self.pending = records + self.pending if first else self.pending + records

    def in_flight(self) -> int:
        with self._lock:
            return len(self.pending)

    def deliver(self, handler: Handler, *, backoff: float = 0.0, crash: Crash | None = None) -> Outcome:
        """Hand the next batch to ``handler``; ack up to the first failed record, retry from it."""
        with self._lock:
            batch = self.pending[: self.window]
        if not batch or time.monotonic() < self.retry_at:
            return Outcome()
        failed_at = self._invoke(handler, batch)
        if crash is not None and crash(batch):
            failed_at = 0
        done = batch[:failed_at]
        outcome = Outcome(delivered=done)
        with self._lock:
            del self.pending[: len(done)]
        for record in done:
            self._shards.pop(str(record["dynamodb"]["SequenceNumber"]), None)
        if failed_at == len(batch):
            self.attempts = 0
            return outcome
        self.attempts += 1
        outcome.failed = len(batch) - failed_at
        if self.attempts >= self.route.retry.max_attempts:
            self.attempts = 0
            if len(batch) - failed_at > 1:
                self.window = (len(batch) - failed_at) // 2  # bisect: the records before it go on
            else:
                outcome.dead_lettered = self._dead_letter(batch[failed_at:])
                self.window = self.route.batch_size
        else:
            self.retry_at = time.monotonic() + backoff * 2 ** (self.attempts - 1)
        return outcome

    def _invoke(self, handler: Handler, batch: list[dict[str, Any]]) -> int:
        """The index of the first failed record (``len(batch)`` when all went through)."""
        try:
            result = handler(
                {"Records": batch}, LambdaContext.for_function(self.route.function, self._region)
            )
        except Exception:
            logger.exception("stream handler invocation failed", extra={"route": self.route.name})
            return 0
        failures = [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
        numbers = [str(r["dynamodb"]["SequenceNumber"]) for r in batch]
        return min((numbers.index(f) for f in failures if f in numbers), default=len(batch))

    def _dead_letter(self, records: list[dict[str, Any]]) -> int:
        """AWS's on-failure record for a stream batch: where it is, never the records themselves."""
        with self._lock:
            del self.pending[: len(records)]
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        body = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.route.retry.max_attempts,
                "functionArn": LambdaContext.for_function(
                    self.route.function, self._region
                ).invoked_function_arn,
            },
            "DDBStreamBatchInfo": {
                "shardId": self._shards.get(str(first["SequenceNumber"]), ""),
                "startSequenceNumber": str(first["SequenceNumber"]),
                "endSequenceNumber": str(last["SequenceNumber"]),
                "batchSize": len(records),
                "streamArn": self._arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(body))
        logger.error("stream batch dead-lettered", extra={"route": self.route.name, "records": len(records)})
        return len(records)

    def redrive(self) -> int:
        """Read every dead-lettered batch back from the stream and hand it to the route again."""
        moved = 0
        while True:
            batch = self._sqs.receive_message(QueueUrl=self._dlq_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return moved
            for message in batch:
                info = json.loads(message["Body"])["DDBStreamBatchInfo"]
                records = [
                    lambda_record(r, self._arn, self._region)
                    for r in self.reader.between(
                        info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]
                    )
                    if matches(self.route.stream_filter, r)
                ]
                for record in records:
                    self._shards[str(record["dynamodb"]["SequenceNumber"])] = info["shardId"]
                self.offer(records)
                moved += len(records)
                self._sqs.delete_message(QueueUrl=self._dlq_url, ReceiptHandle=message["ReceiptHandle"])


class WriteSignal:
    """Bumped after every DynamoDB write in this process: stream readers wake at once instead of
    polling hard, and until they have read past it the stack is not quiet."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.generation = 0

    def bump(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self.generation != seen, timeout)
