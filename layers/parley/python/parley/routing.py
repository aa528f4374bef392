"""The routing table: which handler receives which events, and how failures are retried.

Plain data with no CDK import: the core's routes, and how an extension's manifest becomes a route.
What is deployed (these plus the shipped extensions' routes) is composed in ``parley.topology``;
CDK and the local stack build one EventBridge rule per deployed route, and a test proves the
synthesized template and the topology agree. Adding an extension means adding a route (a rule
target), never editing a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from parley.catalog import CATALOG, CLIENT_VISIBLE, CORE_SOURCE, EXTENSION_SOURCE_PREFIX
from parley.extensions.manifest import SENT_BY_EXTENSIONS, ExtensionDocument

Delivery = Literal["queue", "direct", "stream"]
"""``queue``: rule -> SQS -> Lambda. ``stream``: the events table's stream -> Lambda (no rule, no queue;
the route's DLQ is the event source mapping's on-failure destination). ``direct`` is not built."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a target gets an event before it is dead-lettered.

    ``max_attempts`` is the SQS ``maxReceiveCount`` for queue targets and EventBridge's retry count
    plus one for direct targets; ``backoff_seconds`` is the visibility delay between attempts.
    """

    max_attempts: int = 3
    max_event_age_seconds: int = 3600
    backoff_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 185:
            raise ValueError("max_attempts must be between 1 and 185 (EventBridge's limit)")
        if self.backoff_seconds <= 0:
            raise ValueError("backoff_seconds must be positive")
        if not 60 <= self.max_event_age_seconds <= 86400:
            raise ValueError("max_event_age_seconds must be between 60 and 86400")


@dataclass(frozen=True)
class Route:
    """One subscriber: a function under functions/<function>/ and the events it consumes."""

    name: str
    function: str
    event_types: tuple[str, ...]
    description: str
    sources: tuple[str, ...] = (CORE_SOURCE,)
    source_prefixes: tuple[str, ...] = ()
    detail_filter: Mapping[str, Any] = field(default_factory=dict)
    delivery: Delivery = "queue"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 10
    critical: bool = False
    reserved_concurrency: int | None = None
    """Extensions get their own: a flood or a hang in one never takes the account's concurrency."""

    @property
    def rule_name(self) -> str:
        return f"parley-{self.name}"

    @property
    def queue_name(self) -> str:
        return f"parley-{self.name}"

    @property
    def dlq_name(self) -> str:
        return f"parley-{self.name}-dlq"

    @property
    def stream_filter(self) -> dict[str, Any]:
        """The event source mapping's filter on the events table's stream: new rows of these types."""
        new_rows = {"NewImage": {"event_type": {"S": list(self.event_types)}}}
        return {"eventName": ["INSERT"], "dynamodb": new_rows}

    @property
    def pattern(self) -> dict[str, Any]:
        """The EventBridge event pattern, identical in CDK and in the local stack."""
        sources: list[Any] = [*self.sources, *({"prefix": p} for p in self.source_prefixes)]
        pattern: dict[str, Any] = {"source": sources, "detail-type": list(self.event_types)}
        if self.detail_filter:
            pattern["detail"] = dict(self.detail_filter)
        return pattern


STRICT_TURN_MODES = ("round_robin", "alternating", "moderated")

PUSHED_BY_PRODUCER = frozenset({"AIResponseStarted", "PresenceChanged", "TypingStarted", "TypingStopped"})
"""Client-visible events their producer pushes to sockets itself: ahead of the frames that follow
them (an AI reply's chunks), or never stored, so never on the events table's stream (typing,
presence); the broadcaster pushing them again would show them twice."""

STORED_ON_BUS: tuple[str, ...] = tuple(sorted(t for t, m in CATALOG.items() if m.on_bus and not m.ephemeral))
"""Event types that may be a row of the events table, which the relay puts on the bus."""

ROUTES: tuple[Route, ...] = (
    Route(
        name="turns",
        function="turns",
        event_types=("MessageStored", "UserJoined", "UserLeft"),
        description="Moves the floor after a post, a join or a leave, and emits TurnChanged.",
        # Free chats have no turn holder, so their events never cost a turns invocation.
        detail_filter={"data": {"turn_mode": list(STRICT_TURN_MODES)}},
        retry=RetryPolicy(max_attempts=5, max_event_age_seconds=3600, backoff_seconds=1.0),
        critical=True,
    ),
    Route(
        name="broadcaster",
        function="broadcaster",
        event_types=tuple(
            sorted(t for t in CLIENT_VISIBLE if CATALOG[t].on_bus and t not in PUSHED_BY_PRODUCER)
        ),
        description="Pushes client-visible events to the sockets of the chat's members.",
        # straight from the events table's stream: no PutEvents, rule or queue on a post's way to
        # the sockets, and a chat's events arrive in sequence order
        delivery="stream",
        retry=RetryPolicy(max_attempts=3, max_event_age_seconds=600, backoff_seconds=1.0),
        batch_size=20,
        critical=True,
    ),
    Route(
        name="relay",
        function="relay",
        event_types=STORED_ON_BUS,
        description="The outbox: puts every committed event row on the bus (PutEvents), in stream order.",
        delivery="stream",
        retry=RetryPolicy(max_attempts=10, max_event_age_seconds=86400, backoff_seconds=1.0),
        batch_size=100,
        critical=True,
    ),
    Route(
        name="ai_responder",
        function="ai_responder",
        event_types=("AIResponseRequested",),
        description="Streams an AI participant's reply to the chat's sockets, then stores it as a message.",
        # a reply takes seconds: the queue's visibility (the backoff) must outlast one, or a second
        # worker would pick the same request up while the first still streams
        retry=RetryPolicy(max_attempts=3, max_event_age_seconds=600, backoff_seconds=90.0),
        batch_size=1,
        critical=True,
    ),
    Route(
        name="extension_gateway",
        function="extension_gateway",
        event_types=tuple(SENT_BY_EXTENSIONS),
        description="Checks what extensions send (capability, install), applies it or records a refusal.",
        sources=(),
        source_prefixes=(EXTENSION_SOURCE_PREFIX,),
        retry=RetryPolicy(max_attempts=5, max_event_age_seconds=3600, backoff_seconds=1.0),
        critical=True,
    ),
    Route(
        name="inbox",
        function="inbox",
        event_types=("MessageStored", "MessageUpdated"),
        description="Feeds the inbox read model: each chat's latest message (in its latest version), each "
        "poster's read marker.",
        # beside the critical path: a late inbox row is a moment's stale count, never a lost message
        retry=RetryPolicy(max_attempts=5, max_event_age_seconds=3600, backoff_seconds=2.0),
    ),
    Route(
        name="backfill",
        function="backfill",
        event_types=("ExtensionActivated",),
        description="Hands an extension that asks for history (its manifest) the chat's past once enabled.",
        # every enabling (rare: a moderator's PUT); those that asked for no backfill end at once
        retry=RetryPolicy(max_attempts=3, max_event_age_seconds=3600, backoff_seconds=30.0),
        batch_size=1,
    ),
)


def extension_route(document: ExtensionDocument, *, reserved_concurrency: int = 2) -> Route:
    """An extension's own rule, queue and DLQ: isolated from the core and from other extensions.

    The rule matches only events whose ``metadata.extensions`` lists the extension (the chats where it
    is enabled, and its own life-cycle events), so any target, Lambda, queue or HTTPS, never sees a
    chat that did not enable it, and such a chat's events cost it nothing. Of other extensions'
    events it matches only the names it subscribed to (``extension_events``), not all they emit."""
    return Route(
        name=f"ext_{document.id}",
        function=document.target.function or f"ext_{document.id}",
        event_types=document.subscribed,
        description=f"Extension {document.id}: {document.description}",
        detail_filter=_extension_filter(document),
        source_prefixes=(EXTENSION_SOURCE_PREFIX,) if document.extension_events else (),
        # a live event that comes while a backfill runs waits for it (the SDK hands it back): more
        # attempts, so it outlasts the backfill's wait (``parley.extensions.sdk.BACKFILL_WAIT_SECONDS``)
        retry=RetryPolicy(
            max_attempts=6 if document.backfill else 3, max_event_age_seconds=3600, backoff_seconds=2.0
        ),
        reserved_concurrency=reserved_concurrency,
    )


def _extension_filter(document: ExtensionDocument) -> dict[str, Any]:
    """``detail`` of an extension's pattern: enabled on the chat, and an ExtensionEvent only by name
    (``$or`` on the envelope's own ``metadata.event_type``, inside ``detail`` where CDK takes it)."""
    enabled: dict[str, Any] = {"metadata": {"extensions": [document.id]}}
    if not document.extension_events:
        return enabled
    others = [t for t in document.subscribed if t != "ExtensionEvent"]
    by_name = {
        "metadata": {"event_type": ["ExtensionEvent"]},
        "data": {"name": list(document.extension_events)},
    }
    return {**enabled, "$or": [{"metadata": {"event_type": others}}, by_name]}


def route(name: str) -> Route:
    """A core route by name (a core handler's own); extensions' routes are in ``parley.topology``."""
    for candidate in ROUTES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no core route named {name!r}")
