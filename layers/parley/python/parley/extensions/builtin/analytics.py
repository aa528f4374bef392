"""`analytics`: conversation metrics per chat, and daily figures across chats for operators.

The reference example of a real extension: it sees only the events and the SDK (its own state,
the chat's install and config) and never reads or writes a core table. Installed and enabled on
every new chat; a moderator may turn it off like any other extension.

Each event becomes one fact stored under the event's identity (see the ``_analytics_model``
package), so a duplicate, a retry after a crash or any arrival order leaves the same facts behind.
Reports are computed from the facts when asked for (``GET /chats/{chat_id}/analytics``, through
``parley.services.analytics``); the operators' ``GET /analytics/summary`` reads a per-day rollup
under ``analytics#_rollup``.
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

EVENTS: tuple[str, ...] = (
    "ChatCreated",
    "ChatSettingsChanged",
    "ChatCompleted",
    "UserJoined",
    "UserLeft",
    "MessageStored",
    "TurnChanged",
    "AIResponseRequested",
    "AIResponseCompleted",
    "AIResponseFailed",
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
    )
)


def record(event: Envelope[Any], ctx: Context[AnalyticsConfig]) -> None:
    """Keep the event's fact (once), then bring the operators' rollup for its day up to date."""
    fact = model.fact_of(event)
    if fact is None:
        return
    block, slot = model.slot_of(event)
    key = model.block_key(block)
    current = ctx.store.get(key)
    new = current is None or (current.get("facts") or {}).get(slot) != fact
    stored = (
        ctx.store.update(
            key,
            lambda held: model.add_fact(held, slot, fact),
            ttl_seconds=ctx.config.retention_days * DAY_SECONDS,
        )
        if new
        else current
    )
    # even when the fact was there already: an earlier attempt may have died before this step
    roll_up(ctx, block, stored, fact)
    if new:
        measure(fact)


for _event_type in EVENTS:
    extension.on(_event_type)(record)


def roll_up(ctx: Context[AnalyticsConfig], block: str, stored: Any, fact: model.Fact) -> None:
    chat_id = ctx.chat_id
    rollup = ctx.extension.runtime().state(extension.id, model.ROLLUP_PARTITION)
    ttl = model.ROLLUP_RETENTION_DAYS * DAY_SECONDS
    day = model.day_of(float(fact[1]))
    contribution = model.contributions(chat_id, stored)[day]
    rollup.update(
        model.rollup_key(day, chat_id),
        lambda item: model.merge_contribution(item, chat_id, block, contribution),
        ttl_seconds=ttl,
    )
    if fact[0] == "done":
        created_day = model.day_of(ctx.chat.created_at.timestamp())
        rollup.update(
            model.rollup_key(created_day, chat_id),
            lambda item: model.mark_completed(item, chat_id, day),
            ttl_seconds=ttl,
        )


METRICS: dict[str, tuple[tuple[str, MetricUnit, int | None], ...]] = {
    # fact kind -> (metric, unit, index of the fact's value or None for a count of 1)
    "chat": (("ChatsCreated", MetricUnit.Count, None),),
    "done": (("ChatsCompleted", MetricUnit.Count, None),),
    "msg": (("MessagesStored", MetricUnit.Count, None),),
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
    if fact[0] == "msg" and fact[5] == "ai":
        metrics.add_metric(name="AIRepliesStored", unit=MetricUnit.Count, value=1)
    if fact[0] == "turn" and fact[4] == "timeout":
        metrics.add_metric(name="TurnTimeouts", unit=MetricUnit.Count, value=1)
