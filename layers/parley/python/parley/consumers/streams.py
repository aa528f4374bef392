"""The edge of the events table's stream consumers: DynamoDB stream batch -> envelopes -> one function.

Lambda's event source mapping hands a shard's new rows in order (filtered to the route's event types,
``Route.stream_filter``). A failure is reported as the first failed record's sequence number
(``ReportBatchItemFailures``): the poller hands that record and every later one back, so a chat's
events are retried in order, and after the route's ``MaximumRetryAttempts`` the batch's position
goes to the route's on-failure DLQ. Records after a failure are not handled in this invocation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from parley.adapters.event_rows import image_detail
from parley.catalog import Envelope, parse_detail
from parley.consumers import UnexpectedEventError
from parley.observability import logger
from parley.routing import Route

StreamHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    envelope: Envelope[Any]


def new_rows(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's inserted rows (the mapping's filter passes only those; a MODIFY is a parked mark)."""
    return [r for r in event.get("Records", []) if r.get("eventName") == "INSERT"]


def envelope_of(record: dict[str, Any], route: Route) -> Envelope[Any]:
    envelope = parse_detail(json.loads(image_detail(record["dynamodb"]["NewImage"])))
    if envelope.event_type not in route.event_types:
        raise UnexpectedEventError(f"route {route.name} does not subscribe to {envelope.event_type!r}")
    return envelope


def origin_of(record: dict[str, Any]) -> str | None:
    """The socket a post came from, when its client named it (the row's ``origin_connection_id``)."""
    origin = record["dynamodb"]["NewImage"].get("origin_connection_id")
    return str(origin["S"]) if origin else None


def _failure(sequence_number: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}


def stream_consumer(route: Route, handle: Callable[[Envelope[Any], str | None], None]) -> StreamHandler:
    """A Lambda handler that feeds each new row of ``route``'s stream batch to ``handle``, in order,
    with the socket the row's post came from (``origin_of``)."""

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        for record in new_rows(event):
            sequence_number = str(record["dynamodb"]["SequenceNumber"])
            try:
                envelope = envelope_of(record, route)
                logger.set_correlation_id(envelope.metadata.correlation_id)
                logger.append_keys(event_id=envelope.metadata.event_id, event_type=envelope.event_type)
                handle(envelope, origin_of(record))
            except Exception:
                logger.exception("stream record failed; it and the rows after it come back")
                return _failure(sequence_number)
        return {"batchItemFailures": []}

    return lambda_handler


def stream_batch_consumer(
    route: Route, handle: Callable[[Sequence[Envelope[Any]]], set[str]]
) -> StreamHandler:
    """A Lambda handler that hands the whole batch to ``handle``, which returns the event ids that
    failed; the first of them in stream order (or a row that cannot be read) is reported."""

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        records: list[StreamRecord] = []
        unreadable: str | None = None
        for record in new_rows(event):
            sequence_number = str(record["dynamodb"]["SequenceNumber"])
            try:
                records.append(StreamRecord(sequence_number, envelope_of(record, route)))
            except Exception:
                logger.exception("unreadable stream record; it and the rows after it come back")
                unreadable = sequence_number
                break
        failed = handle([r.envelope for r in records])
        first = next(
            (r.sequence_number for r in records if r.envelope.metadata.event_id in failed), unreadable
        )
        return _failure(first) if first is not None else {"batchItemFailures": []}

    return lambda_handler
