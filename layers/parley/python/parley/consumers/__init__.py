"""The edge of every bus consumer: SQS batch -> EventBridge event -> catalog envelope -> one function.

Rule -> queue -> Lambda with partial batch responses: a failing record is retried (and finally
dead-lettered) on its own, never taking the rest of the batch with it. Its last failed attempt
(SQS's receive count at the route's ``maxReceiveCount``) is announced on the bus as HandlerFailed,
so operators see a dead letter where they see everything else.

The batch loop is ours, not Powertools' ``BatchProcessor``: the contract is a dozen lines (each
record on its own, failures reported as ``batchItemFailures``, a batch that failed whole fails the
invocation), while the processor's import pulls in every event source's data classes and parser
models at every consumer's cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

from parley.catalog import SYSTEM, Envelope, HandlerFailed, new_event, parse_detail
from parley.observability import logger
from parley.routing import Route

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class UnexpectedEventError(Exception):
    """A route delivered an event type it does not subscribe to: a configuration bug, never skipped."""


class BatchFailedError(Exception):
    """Every record of the batch failed: the invocation fails, so Lambda's own retry and the
    function's error alarm see it (Powertools' batch processor behaved the same)."""


def envelope_from_eventbridge(event: dict[str, Any], route: Route) -> Envelope[Any]:
    detail_type = event.get("detail-type")
    if detail_type not in route.event_types:
        raise UnexpectedEventError(f"route {route.name} does not subscribe to {detail_type!r}")
    envelope = parse_detail(event.get("detail") or {})
    if envelope.event_type != detail_type:
        raise UnexpectedEventError(f"detail-type {detail_type!r} but metadata says {envelope.event_type!r}")
    return envelope


Report = Callable[[Sequence[Envelope[Any]]], None]
"""Where HandlerFailed goes: the outbox's best-effort, unsequenced publish."""


def handler_failed(route: Route, failed: Envelope[Any], error: Exception, attempts: int) -> Envelope[Any]:
    meta = failed.metadata
    return new_event(
        HandlerFailed(
            handler=route.name,
            failed_event_id=meta.event_id,
            failed_event_type=meta.event_type,
            error=f"{type(error).__name__}: {error}"[:1000],
            attempts=attempts,
        ),
        chat_id=meta.chat_id,
        actor=SYSTEM,
        correlation_id=meta.correlation_id,
        causation_id=meta.event_id,
    )


@overload
def sqs_consumer(
    route: Route, handle: Callable[[Envelope[Any]], None], *, report: Report | None = None
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]: ...


@overload
def sqs_consumer(
    route: Route,
    handle: Callable[[Envelope[Any], str | None], None],
    *,
    with_source: bool,
    report: Report | None = None,
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]: ...


def sqs_consumer(
    route: Route, handle: Callable[..., None], *, with_source: bool = False, report: Report | None = None
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """A Lambda handler that feeds each queued EventBridge event of ``route`` to ``handle``.

    An event whose bus ``source`` is not the one its envelope implies (a core event put by anyone
    but the core) is dropped with a warning, never retried. ``with_source`` hands the source to
    ``handle`` instead, for the extension gateway, which records such refusals itself.
    """

    def record_handler(record: dict[str, Any]) -> None:
        event = json.loads(record["body"])
        envelope = envelope_from_eventbridge(event, route)
        try:
            handle_one(event, envelope)
        except Exception as exc:
            attempts = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
            if report is not None and attempts >= route.retry.max_attempts:
                logger.error("dead-lettering an event", extra={"attempts": attempts, "error": str(exc)})
                report([handler_failed(route, envelope, exc, attempts)])
            raise

    def handle_one(event: dict[str, Any], envelope: Envelope[Any]) -> None:
        logger.set_correlation_id(envelope.metadata.correlation_id)
        logger.append_keys(event_id=envelope.metadata.event_id, event_type=envelope.event_type)
        source = event.get("source")
        if with_source:
            handle(envelope, source)
            return
        if source != envelope.source:
            logger.warning("dropped an event whose source does not match its actor", extra={"source": source})
            return
        handle(envelope)

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return partial_batch(event["Records"], record_handler)

    return lambda_handler


def partial_batch(
    records: Sequence[dict[str, Any]], handle: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Each record on its own: the failed ones come back as ``batchItemFailures`` (only they are
    retried); if every record failed, ``BatchFailedError`` fails the invocation."""
    failed: list[dict[str, str]] = []
    last: Exception | None = None
    for record in records:
        try:
            handle(record)
        except Exception as exc:
            failed.append({"itemIdentifier": record["messageId"]})
            last = exc
    if records and len(failed) == len(records):
        raise BatchFailedError(
            f"All records failed processing. {len(failed)} individual errors, the last: {last!r}"
        ) from last
    return {"batchItemFailures": failed}
