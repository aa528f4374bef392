"""Events -> facts: what each kept event contributes, and the blocks the facts are stored in.

A fact is a small JSON array keyed by the event's identity (its event-log sequence), so a duplicate
changes nothing and any arrival order gives the same block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from parley.catalog import Envelope

BLOCK = 50
"""Event-log sequences per facts item: about 3 KB per item, so one write stays a few write units."""
UNSEQUENCED_BLOCK = "u"
"""Facts of events without a log sequence (none expected: every subscribed type is logged)."""

Fact = list[Any]
Facts = dict[str, Fact]


def _ts(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


def _message(data: Any, ts: float) -> Fact:
    m = data.message
    return ["msg", ts, m.sequence, m.sender_id, m.sender_name, m.sender_kind, len(m.text)]


def _ai_completed(data: Any, ts: float) -> Fact:
    return [
        "ai_ok",
        ts,
        data.request_id,
        data.participant_id,
        round(data.time_to_first_token_ms, 1),
        round(data.duration_ms, 1),
        data.input_tokens,
        data.output_tokens,
    ]


_FACTS: dict[str, Callable[[Any, float], Fact]] = {
    "ChatCreated": lambda data, ts: ["chat", ts, data.turn_mode],
    "ChatSettingsChanged": lambda data, ts: ["settings", ts, data.turn_mode],
    "ChatCompleted": lambda _, ts: ["done", ts],
    "UserJoined": lambda data, ts: [
        "join",
        ts,
        data.participant.id,
        data.participant.name,
        data.participant.kind,
    ],
    "UserLeft": lambda data, ts: ["leave", ts, data.participant_id],
    "MessageStored": _message,
    "TurnChanged": lambda data, ts: ["turn", ts, data.turn_number, data.turn_mode, data.reason],
    "AIResponseRequested": lambda data, ts: ["ai_req", ts, data.request_id, data.participant_id],
    "AIResponseCompleted": _ai_completed,
    "AIResponseFailed": lambda data, ts: ["ai_fail", ts, data.request_id, data.participant_id, data.reason],
}
"""Event type -> its fact, for the types that count (reports fold exactly these from the log)."""
FACT_TYPES = frozenset(_FACTS)


def fact_of(envelope: Envelope[Any]) -> Fact | None:
    """The fact an event contributes, or None for events that do not count.

    Shapes (first element is the kind; ``ts`` is the event's epoch seconds):
    ``["chat", ts, turn_mode]``, ``["settings", ts, turn_mode]``, ``["done", ts]``,
    ``["join", ts, participant_id, name, kind]``, ``["leave", ts, participant_id]``,
    ``["msg", ts, message_sequence, sender_id, sender_name, sender_kind, length]``,
    ``["turn", ts, turn_number, turn_mode, reason]``, ``["ai_req", ts, request_id, participant_id]``,
    ``["ai_ok", ts, request_id, participant_id, ttft_ms, duration_ms, tokens_in, tokens_out]``,
    ``["ai_fail", ts, request_id, participant_id, reason]``.
    """
    make = _FACTS.get(envelope.event_type)
    return make(envelope.data, _ts(envelope.metadata.occurred_at)) if make else None


def slot_of(envelope: Envelope[Any]) -> tuple[str, str]:
    """(block, slot): where the event's fact lives. The slot is the event's identity."""
    sequence = envelope.metadata.sequence
    if sequence is None:
        return UNSEQUENCED_BLOCK, envelope.metadata.event_id
    return str(sequence // BLOCK), str(sequence)


def block_key(block: str) -> str:
    return f"facts#{block}"


FACTS_PREFIX = "f"
"""The keys of a chat's facts: ``f#<slot>`` (one fact each) and the older ``facts#<block>``."""


def fact_key(slot: str) -> str:
    return f"f#{slot}"


def merge_stored(values: Mapping[str, Any]) -> Facts:
    """A chat's facts from its stored values (key -> value): single facts and older blocks."""
    merged: Facts = {}
    for key, value in values.items():
        if key.startswith("f#"):
            merged[key.removeprefix("f#")] = value
        elif key.startswith("facts#") and isinstance(value, Mapping):
            merged.update(value.get("facts") or {})
    return merged


def blocks_through(last_event_sequence: int) -> list[str]:
    """Every block a chat's facts can be in, given its latest event-log sequence."""
    return [*(str(b) for b in range(last_event_sequence // BLOCK + 1)), UNSEQUENCED_BLOCK]


def add_fact(block: Mapping[str, Any] | None, slot: str, fact: Fact) -> dict[str, Any]:
    """The block with the fact in it. Idempotent; the revision grows only when the facts do."""
    current = dict(block or {"rev": 0, "facts": {}})
    facts = dict(current.get("facts") or {})
    if facts.get(slot) == fact:
        return current
    facts[slot] = fact
    return {"rev": int(current.get("rev", 0)) + 1, "facts": facts}


def merge_blocks(blocks: Iterable[Mapping[str, Any] | None]) -> Facts:
    merged: Facts = {}
    for block in blocks:
        if block:
            merged.update(block.get("facts") or {})
    return merged


def ordered(facts: Mapping[str, Fact]) -> list[Fact]:
    """Facts in event-log order (then time, for the unsequenced ones), whatever order they came in."""

    def key(item: tuple[str, Fact]) -> tuple[bool, int, float, str]:
        slot, fact = item
        return (not slot.isdigit(), int(slot) if slot.isdigit() else 0, float(fact[1]), slot)

    return [fact for _, fact in sorted(facts.items(), key=key)]
