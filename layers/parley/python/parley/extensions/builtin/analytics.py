"""`analytics`: conversation metrics per chat, and daily figures across chats for operators.

The reference example of a real extension: it sees only the events and the SDK (its own state,
the chat's install and config) and never reads or writes a core table. Installed and enabled on
every new chat; a moderator may turn it off like any other extension.

Each event is counted once in a bounded per-day tally row (see the ``_analytics_model`` package):
one blind write keyed by the event's identity, so a duplicate, a retry after a crash or any arrival
order leaves the same counts behind, and the SDK needs no delivery claim (``idempotent``). A chat's
report is folded from the chat's own event log when asked for (``GET /chats/{chat_id}/analytics``,
through ``parley.services.analytics``), so nothing per chat is written per event; the operators'
``GET /analytics/summary`` queries the tally rows of each day (``analytics#_rollup#<day>#<shard>``)
and folds the messages of each chat active that day from its log: analytics is not handed
MessageStored, so a post costs it nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.catalog import Envelope
from parley.extensions.builtin import _analytics_model as model
from parley.extensions.builtin._analytics_model import DAY_SECONDS, EXTENSION_ID, AnalyticsConfig
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from parley.observability import metrics

# not MessageStored: the summary folds messages from the logs of the chats active on a day, so a post
# costs analytics no delivery, invocation or write (the relay counts them for the dashboard)
EVENTS: tuple[str, ...] = (
    "ChatCreated",
    "ChatCompleted",
    "UserJoined",
    "UserLeft",
    "TurnChanged",
    "AIResponseRequested",
    "AIResponseCompleted",
    "AIResponseFailed",
    "ExtensionActivated",
)


extension: Extension[AnalyticsConfig] = Extension(
    Manifest(
        id=EXTENSION_ID,
        version="1.0.0",
        name="Analytics",
        description="Conversation metrics: messages, turns, AI response times, engagement, daily trend.",
        events=EVENTS,
        config_model=AnalyticsConfig,
        default_install=True,
        # facts and tallies are blind writes keyed by the event's identity: no delivery claim needed
        idempotent=True,
        # enabled on an old chat (or again after a pause), it counts the chat's past too: its writes
        # are blind and keyed by each event's identity, so an event it had counted counts once
        backfill=True,
        backfill_max_events=model.BACKFILL_MAX_EVENTS,
    )
)


def record(event: Envelope[Any], ctx: Context[AnalyticsConfig]) -> None:
    """Count the event in the operators' rollup for its day, once: a blind write keyed by the
    event's identity (no read), so a duplicate or any arrival order leaves the same counts behind.
    (The chat's report needs no write: it is folded from the chat's log when read.)"""
    fact = model.fact_of(event)
    if fact is None:
        return
    _, slot = model.slot_of(event)
    if roll_up(ctx, slot, fact):
        measure(fact)


for _event_type in EVENTS:
    if _event_type != "ExtensionActivated":
        extension.on(_event_type)(record)


@extension.on("ExtensionActivated")
def backfilled(event: Envelope[Any], ctx: Context[AnalyticsConfig]) -> None:
    """Notes analytics' enabling with a backfill (rare, not per post): the summary's fold of a past
    day counts the messages the backfill covers, as the chat's report does (the SDK hands the
    extension only its own life cycle)."""
    through = event.data.backfill_through
    if through is None:
        return
    rows = ctx.extension.runtime().state(extension.id, model.BACKFILL_PARTITION)
    ttl = model.ROLLUP_RETENTION_DAYS * DAY_SECONDS
    rows.tally(ctx.chat_id, str(through), {}, {"a": [str(through)]}, ttl_seconds=ttl)


def roll_up(ctx: Context[AnalyticsConfig], slot: str, fact: model.Fact) -> bool:
    """Adds the fact to its day's tally row (nothing for facts no summary counts), and marks a
    completion on the chat's creation day; True if the fact was counted now (not before)."""
    chat_id, state = ctx.chat_id, ctx.extension.runtime().state
    ttl = model.ROLLUP_RETENTION_DAYS * DAY_SECONDS
    day = model.day_of(float(fact[1]))
    counts, tags = model.tally_of(chat_id, fact)
    new = False
    if counts or tags:
        rows = state(extension.id, model.rollup_partition(day, chat_id))
        new = rows.tally(model.tally_row(chat_id, slot), slot, counts, tags, ttl_seconds=ttl)
    if fact[0] == "done":
        # even when the day's count was there already: an earlier attempt may have died before this
        created_day = model.day_of(ctx.chat.created_at.timestamp())
        rows = state(extension.id, model.rollup_partition(created_day, chat_id))
        rows.tally(model.done_row(chat_id), slot, {}, {"done": [day]}, ttl_seconds=ttl)
    return new


METRICS: dict[str, tuple[tuple[str, MetricUnit, int | None], ...]] = {
    # fact kind -> (metric, unit, index of the fact's value or None for a count of 1)
    "chat": (("ChatsCreated", MetricUnit.Count, None),),
    "done": (("ChatsCompleted", MetricUnit.Count, None),),
    "join": (("ParticipantsJoined", MetricUnit.Count, None),),
    "ai_req": (("AIResponsesRequested", MetricUnit.Count, None),),
    "ai_ok": (
        ("AIResponsesSucceeded", MetricUnit.Count, None),
        ("AITimeToFirstTokenMs", MetricUnit.Milliseconds, 4),
        ("AIResponseTimeMs", MetricUnit.Milliseconds, 5),
        ("AIInputTokens", MetricUnit.Count, 6),
        ("AIOutputTokens", MetricUnit.Count, 7),
    ),
    "ai_fail": (("AIResponsesFailed", MetricUnit.Count, None),),
}


def measure(fact: model.Fact) -> None:
    """EMF metrics for the operators' dashboard (namespace Parley), once per new fact."""
    for name, unit, index in METRICS.get(fact[0], ()):
        metrics.add_metric(name=name, unit=unit, value=1 if index is None else float(fact[index]))
    if fact[0] == "turn" and fact[4] == "timeout":
        metrics.add_metric(name="TurnTimeouts", unit=MetricUnit.Count, value=1)
