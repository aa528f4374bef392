"""Transactional outbox: events are committed with the state change, then published.

The event-log row is written in the same DynamoDB transaction as the change, flagged ``pending``
in a sparse index. The writer publishes right away (the fast path) and clears the flag; if it dies
or the bus refuses, the sweeper finds the flag later and publishes the very same event (same
event_id). Delivery is therefore at-least-once and consumers deduplicate on event_id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.adapters.dynamodb import ChatRepository
from parley.catalog import Envelope, parse_detail
from parley.errors import PublishError, StoreError
from parley.observability import logger, metrics
from parley.ports import EventPublisher


@dataclass(frozen=True)
class SweepResult:
    found: int
    published: int
    failed: int


class Outbox:
    def __init__(self, repository: ChatRepository, publisher: EventPublisher) -> None:
        self._repository = repository
        self._publisher = publisher

    def publish_committed(self, envelopes: Sequence[Envelope[Any]]) -> int:
        """Publish events that are already committed; what fails waits in the outbox for the sweeper.

        Returns how many were published. Never raises for a bus failure: the state change stands.
        """
        if not envelopes:
            return 0
        published = self._publish_and_mark(envelopes)
        if published < len(envelopes):
            metrics.add_metric(
                name="OutboxPublishFailed", unit=MetricUnit.Count, value=len(envelopes) - published
            )
        return published

    def publish_unsequenced(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Events about refused requests are not chat history: best effort, no log row."""
        try:
            self._publisher.publish(envelopes)
        except PublishError as exc:
            logger.warning("could not publish an unsequenced event", extra={"error": exc.message})

    def sweep(self, *, now: datetime, grace_seconds: float, limit: int = 100) -> SweepResult:
        """Publish events whose writer never confirmed them; younger ones are left to their writer."""
        pending = self._repository.pending_events(
            older_than=now - timedelta(seconds=grace_seconds), limit=limit
        )
        published = self._publish_and_mark([parse_detail(p.detail) for p in pending]) if pending else 0
        if pending:
            logger.info("outbox swept", extra={"found": len(pending), "published": published})
        metrics.add_metric(name="OutboxSwept", unit=MetricUnit.Count, value=published)
        return SweepResult(found=len(pending), published=published, failed=len(pending) - published)

    def _publish_and_mark(self, envelopes: Sequence[Envelope[Any]]) -> int:
        failed_ids: set[str] = set()
        try:
            self._publisher.publish(envelopes)
        except PublishError as exc:
            failed = exc.details.get("failed")
            # without a per-entry list, treat the whole call as failed: nothing may be marked
            failed_ids = (
                {f["event_id"] for f in failed} if failed else {e.metadata.event_id for e in envelopes}
            )
            logger.warning("publish failed; events stay in the outbox", extra={"error": exc.message})
        done = [e for e in envelopes if e.metadata.event_id not in failed_ids]
        keys = [(e.metadata.chat_id, e.metadata.sequence) for e in done if e.metadata.sequence is not None]
        try:
            self._repository.mark_published(keys)
        except StoreError:
            # published but still flagged: the sweeper publishes again, consumers deduplicate
            logger.exception("could not clear outbox flags", extra={"count": len(keys)})
        return len(done)
