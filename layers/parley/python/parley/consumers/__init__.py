"""The edge of every bus consumer: SQS batch -> EventBridge event -> catalog envelope -> one function.

Rule -> queue -> Lambda with partial batch responses: a failing record is retried (and finally
dead-lettered) on its own, never taking the rest of the batch with it. Its last failed attempt
(SQS's receive count at the route's ``maxReceiveCount``) is announced on the bus as HandlerFailed,
so operators see a dead letter where they see everything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, overload

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from parley.catalog import SYSTEM, Envelope, HandlerFailed, new_event, parse_detail
from parley.observability import logger
from parley.routing import Route


class UnexpectedEventError(Exception):
    """A route delivered an event type it does not subscribe to: a configuration bug, never skipped."""


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
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord) -> None:
        event = json.loads(record.body)
        envelope = envelope_from_eventbridge(event, route)
        try:
            handle_one(event, envelope)
        except Exception as exc:
            attempts = int(record.attributes.approximate_receive_count or 1)
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
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)

    return lambda_handler
