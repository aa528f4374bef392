"""Transactional outbox: events are committed with the state change, then published.

The event-log row is written in the same DynamoDB transaction as the change, flagged ``pending``
in a sparse index. The writer publishes right away (the fast path) and clears the flag; if it dies
or the bus refuses, the sweeper finds the flag later and publishes the very same event (same
event_id). Delivery is therefore at-least-once and consumers deduplicate on event_id.

An event the bus can never take (over its size limit) is parked: out of the pending index, with a
``parked`` reason on its log row, an error log and an ``OutboxParked`` metric to alarm on. The
sweeper steps over what fails and visits every shard, so no row can block the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.adapters.dynamodb import OUTBOX_SHARDS, ChatRepository
from parley.adapters.eventbridge import TOO_LARGE
from parley.catalog import Envelope, parse_detail
from parley.errors import PublishError, StoreError
from parley.observability import logger, metrics
from parley.ports import EventPublisher


@dataclass(frozen=True)
class SweepResult:
    found: int
    published: int
    failed: int
    parked: int


@dataclass(frozen=True)
class _Published:
    published: int
    failed: int
    parked: int


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
        published = self._publish_and_mark(envelopes).published
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

    def sweep(
        self,
        *,
        now: datetime,
        grace_seconds: float,
        limit: int = 100,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> SweepResult:
        """Publish events whose writer never confirmed them; younger ones are left to their writer.

        Every shard is visited, page by page past what fails, until done or ``keep_going`` says stop;
        the first shard varies per run, so a run cut short never starves the same shards."""
        older_than = now - timedelta(seconds=grace_seconds)
        found = published = failed = parked = 0
        first = random.randrange(OUTBOX_SHARDS)
        for shard in [(first + i) % OUTBOX_SHARDS for i in range(OUTBOX_SHARDS)]:
            cursor: dict[str, Any] | None = None
            while keep_going():
                pending, cursor = self._repository.pending_page(
                    shard, older_than=older_than, limit=limit, after=cursor
                )
                if pending:
                    result = self._publish_and_mark([parse_detail(p.detail) for p in pending])
                    found, published = found + len(pending), published + result.published
                    failed, parked = failed + result.failed, parked + result.parked
                if cursor is None:
                    break
        if found:
            logger.info(
                "outbox swept",
                extra={"found": found, "published": published, "failed": failed, "parked": parked},
            )
        metrics.add_metric(name="OutboxSwept", unit=MetricUnit.Count, value=published)
        return SweepResult(found=found, published=published, failed=failed, parked=parked)

    def _publish_and_mark(self, envelopes: Sequence[Envelope[Any]]) -> _Published:
        failures: dict[str, str] = {}
        try:
            self._publisher.publish(envelopes)
        except PublishError as exc:
            failed = exc.details.get("failed")
            # without a per-entry list, treat the whole call as failed: nothing may be marked
            failures = (
                {f["event_id"]: f["code"] for f in failed}
                if failed
                else {e.metadata.event_id: exc.code for e in envelopes}
            )
            logger.warning("publish failed; events stay in the outbox", extra={"error": exc.message})
        done = [e for e in envelopes if e.metadata.event_id not in failures]
        self._clear(done)
        hopeless = [e for e in envelopes if failures.get(e.metadata.event_id) == TOO_LARGE]
        self._park(hopeless)
        return _Published(published=len(done), failed=len(failures) - len(hopeless), parked=len(hopeless))

    def _clear(self, done: Sequence[Envelope[Any]]) -> None:
        keys = _keys(done)
        try:
            self._repository.mark_published(keys)
        except StoreError:
            # published but still flagged: the sweeper publishes again, consumers deduplicate
            logger.exception("could not clear outbox flags", extra={"count": len(keys)})

    def _park(self, hopeless: Sequence[Envelope[Any]]) -> None:
        if not hopeless:
            return
        keys = _keys(hopeless)
        try:
            self._repository.park(keys, reason=TOO_LARGE)
        except StoreError:
            logger.exception("could not park outbox events", extra={"count": len(keys)})
            return
        logger.error(
            "outbox events parked: the bus can never take them",
            extra={"events": [{"chat_id": c, "sequence": s} for c, s in keys], "reason": TOO_LARGE},
        )
        metrics.add_metric(name="OutboxParked", unit=MetricUnit.Count, value=len(keys))


def _keys(envelopes: Sequence[Envelope[Any]]) -> list[tuple[str, int]]:
    return [(e.metadata.chat_id, e.metadata.sequence) for e in envelopes if e.metadata.sequence is not None]
