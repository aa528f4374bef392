"""Transactional outbox: events are committed with the state change; the table's stream publishes them.

A writer commits the event-log rows in the same DynamoDB transaction as the change and returns: it
never calls the bus. The events table's stream (new images) feeds the relay, which puts each row on
the bus with the very same event_id, in stream order. A row whose PutEvents fails is reported back
to the stream's poller (a batch item failure), which hands it and the rows after it to the relay
again: delivery is at-least-once and consumers deduplicate on event_id. Nothing is lost between the
write and the publish, because the row and the stream record are one write.

An event the bus can never take (over its size limit) is parked: a ``parked`` reason on its log
row, an error log and an ``OutboxParked`` metric to alarm on, and the stream moves on, so no row
can block the ones behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import TOO_LARGE
from parley.catalog import Envelope
from parley.errors import PublishError, StoreError
from parley.observability import logger, metrics
from parley.ports import EventPublisher


class Outbox:
    def __init__(self, repository: ChatRepository, publisher: EventPublisher) -> None:
        self._repository = repository
        self._publisher = publisher

    def relay(self, envelopes: Sequence[Envelope[Any]]) -> set[str]:
        """Publish committed events (a stream batch, in order); returns the event ids to try again.

        Events the bus can never take are parked, not returned: they would block the stream."""
        if not envelopes:
            return set()
        failures: dict[str, str] = {}
        try:
            self._publisher.publish(envelopes)
        except PublishError as exc:
            failed = exc.details.get("failed")
            # without a per-entry list, treat the whole call as failed: the stream hands it back
            failures = (
                {f["event_id"]: f["code"] for f in failed}
                if failed
                else {e.metadata.event_id: exc.code for e in envelopes}
            )
            logger.warning("publish failed; the stream hands the events back", extra={"error": exc.message})
        hopeless = [e for e in envelopes if failures.get(e.metadata.event_id) == TOO_LARGE]
        self._park(hopeless)
        retry = {event_id for event_id, code in failures.items() if code != TOO_LARGE}
        if retry:
            metrics.add_metric(name="OutboxPublishFailed", unit=MetricUnit.Count, value=len(retry))
        return retry

    def publish_unsequenced(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Events about refused requests are not chat history: best effort, no log row."""
        try:
            self._publisher.publish(envelopes)
        except PublishError as exc:
            logger.warning("could not publish an unsequenced event", extra={"error": exc.message})

    def _park(self, hopeless: Sequence[Envelope[Any]]) -> None:
        if not hopeless:
            return
        keys = _keys(hopeless)
        try:
            self._repository.park(keys, reason=TOO_LARGE)
        except StoreError:
            logger.exception("could not mark parked events", extra={"count": len(keys)})
        logger.error(
            "outbox events parked: the bus can never take them",
            extra={"events": [{"chat_id": c, "sequence": s} for c, s in keys], "reason": TOO_LARGE},
        )
        metrics.add_metric(name="OutboxParked", unit=MetricUnit.Count, value=len(keys))


def _keys(envelopes: Sequence[Envelope[Any]]) -> list[tuple[str, int]]:
    return [(e.metadata.chat_id, e.metadata.sequence) for e in envelopes if e.metadata.sequence is not None]
