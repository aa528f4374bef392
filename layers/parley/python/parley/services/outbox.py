"""Transactional outbox: events are committed with the state change; the table's stream publishes them.

A writer commits the event-log rows in the same DynamoDB transaction as the change and returns: it
never calls the bus. The events table's stream (new images) feeds the relay, which puts each row on
the bus with the very same event_id, in stream order. A row whose PutEvents fails is reported back
to the stream's poller (a batch item failure), which hands it and the rows after it to the relay
again: delivery is at-least-once and consumers deduplicate on event_id. Nothing is lost between the
write and the publish, because the row and the stream record are one write.

Once a batch is on the bus, the relay keeps the read models the stream feeds (the inbox, ``Relay``):
they need no bus route, queue or function of their own, and never hold up what the bus delivers.

Only what some rule on the bus wants is put there (``WantedByRules``: the rules' own patterns,
evaluated locally), so an event no consumer subscribes to costs no PutEvents entry; the stream
routes (the broadcaster) read the table, not the bus, and get every row regardless.

An event the bus can never take (over its size limit) is parked: a ``parked`` reason on its log
row, an error log and an ``OutboxParked`` metric to alarm on, and the stream moves on, so no row
can block the ones behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import TOO_LARGE
from parley.catalog import Envelope
from parley.errors import BusRulesError, PublishError, StoreError
from parley.observability import logger, metrics
from parley.patterns import matches
from parley.ports import EventPublisher

RULES_TTL_SECONDS = 60.0
"""How long the relay trusts the rules it read: a rule a deploy changed is followed within this."""
UNKNOWN_RELOAD_SECONDS = 5.0
"""An event for an extension no rule names (deployed since the last read) reads the rules again, at
most this often; while no rule names it, such an event is published anyway."""


@dataclass(frozen=True)
class _Rules:
    patterns: tuple[Mapping[str, Any], ...]
    named: frozenset[str]
    """Extension ids the patterns filter ``detail.metadata.extensions`` on."""
    read_at: float


class WantedByRules:
    """Does some rule on the bus want this committed event? The bus's rules, read and cached (a
    ListRules per ``RULES_TTL_SECONDS``); when they cannot be read, every event is wanted."""

    def __init__(
        self,
        load: Callable[[], Sequence[Mapping[str, Any]]],
        *,
        ttl_seconds: float = RULES_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._clock = clock
        self._rules: _Rules | None = None

    def __call__(self, envelope: Envelope[Any]) -> bool:
        extensions = set(envelope.metadata.extensions)
        rules = self._current(self._ttl)
        if rules is not None and extensions - rules.named:
            rules = self._current(UNKNOWN_RELOAD_SECONDS)
        if rules is None or extensions - rules.named:
            return True
        event = {
            "source": envelope.source,
            "detail-type": envelope.event_type,
            "detail": envelope.to_detail(),
        }
        return any(matches(pattern, event) for pattern in rules.patterns)

    def _current(self, max_age: float) -> _Rules | None:
        now = self._clock()
        if self._rules is not None and now - self._rules.read_at <= max_age:
            return self._rules
        try:
            patterns = tuple(self._load())
        except BusRulesError as exc:
            logger.warning("bus rules unreadable: every event is published", extra={"error": exc.message})
            self._rules = None
            return None
        self._rules = _Rules(patterns, frozenset(_named(patterns)), now)
        return self._rules


def _named(node: Any, key: str = "") -> Iterator[str]:
    """Every string a pattern lists under an ``extensions`` field."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _named(v, k)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _named(item, key)
    elif key == "extensions" and isinstance(node, str):
        yield node


def _wants_all(_: Envelope[Any]) -> bool:
    return True


class Outbox:
    def __init__(
        self,
        repository: ChatRepository,
        publisher: EventPublisher,
        *,
        wanted: Callable[[Envelope[Any]], bool] = _wants_all,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._wanted = wanted

    def relay(self, envelopes: Sequence[Envelope[Any]]) -> set[str]:
        """Publish committed events (a stream batch, in order); returns the event ids to try again.

        Events no rule wants are not published; events the bus can never take are parked, not
        returned: they would block the stream."""
        count_stored(envelopes)
        envelopes = [e for e in envelopes if self._wanted(e)]
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


def count_stored(envelopes: Sequence[Envelope[Any]]) -> None:
    """The dashboard's MessagesStored and AIRepliesStored, one EMF line per batch (analytics, which
    emitted them per message, is no longer handed MessageStored). A batch the stream hands back
    again is counted again: the operators' summary, folded from the log, is the exact figure."""
    stored = [e for e in envelopes if e.event_type == "MessageStored"]
    if stored:
        ai = sum(1 for e in stored if e.data.message.sender_kind == "ai")
        metrics.add_metric(name="MessagesStored", unit=MetricUnit.Count, value=len(stored))
        metrics.add_metric(name="AIRepliesStored", unit=MetricUnit.Count, value=ai)


Projection = Callable[[Sequence[Envelope[Any]]], set[str]]
"""A read model the relay keeps: applies a stream batch, returns the event id to hand back, if any."""


class Relay:
    """The events table's stream to the bus, then to the read models."""

    def __init__(self, outbox: Outbox, project: Projection) -> None:
        self._outbox = outbox
        self._project = project

    def __call__(self, envelopes: Sequence[Envelope[Any]]) -> set[str]:
        """Publish the batch, then project it; returns the event ids to try again.

        The bus comes first: turns, AI requests and every extension wait on it, and a read model that
        fails (a throttled or misconfigured inbox table) must never hold them up. The stream hands
        back the first row reported and every later one, so the projection takes the rows only up to
        the first publish failure (the rest come back). A row the projection hands back comes back
        with every later one, which are published again then: consumers take each event once by its
        event_id, and the relay's retry policy bounds how often; every inbox write is forward-only,
        so projecting a row again changes nothing."""
        retry = self._outbox.relay(envelopes)
        cut = next((i for i, e in enumerate(envelopes) if e.metadata.event_id in retry), len(envelopes))
        return retry | self._project(envelopes[:cut])


def _keys(envelopes: Sequence[Envelope[Any]]) -> list[tuple[str, int]]:
    return [(e.metadata.chat_id, e.metadata.sequence) for e in envelopes if e.metadata.sequence is not None]
