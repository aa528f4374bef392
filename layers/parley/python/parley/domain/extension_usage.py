"""One extension's usage in one chat on one UTC day, folded from the chat's own event log when an
operator asks: no write, read or metric per post.

Delivered: an entry of the day that the extension's bus rule matches, checked with the rule's own
pattern as the relay checks it (``parley.patterns``) against the event as it was put on the bus, so
``metadata.extensions`` (the installs enabled on the chat when the event was built) decides, as it
does for the rule. Its hook calls are the rulings the log records (``MessageModerated``,
``TurnValidationRequested``, live or in shadow), one synchronous invocation each. Its writes are the
entries the log records on its behalf: its bot's messages and their updates, the changes the gateway
applied as its bot, its hooks' rulings and refusals of its requests (by the event's
``extension_id``), never a member's action on its install.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.catalog import CORE_SOURCE, EXTENSION_SOURCE_PREFIX
from parley.patterns import matches

PEOPLE = frozenset({"user", "ai"})
"""Actor kinds whose events are never an extension's writes (installing or enabling it, say), but for
the rulings of its hooks, stored with the post they ruled on."""
RULINGS = frozenset({"MessageModerated", "TurnValidationRequested"})
"""Records of a hook's ruling (a moderation hook's, a turn policy's), each naming its extension."""


def occurred_at(detail: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(detail["metadata"]["occurred_at"]).replace("Z", "+00:00"))


def on_bus(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The event as the relay puts it on the bus (``Envelope.source``): what a rule is matched against."""
    actor = detail["metadata"].get("actor") or {}
    source = (
        f"{EXTENSION_SOURCE_PREFIX}{actor.get('id')}" if actor.get("kind") == "extension" else CORE_SOURCE
    )
    return {"source": source, "detail-type": detail["metadata"]["event_type"], "detail": dict(detail)}


def hook_call(extension_id: str, detail: Mapping[str, Any]) -> bool:
    """Is this entry the record of one of its hooks' rulings (live, or in shadow)?"""
    data = detail.get("data") or {}
    if data.get("extension_id") != extension_id:
        return False
    kind = detail["metadata"]["event_type"]
    return kind in RULINGS or (kind == "ExtensionShadowOutput" and data.get("output_type") in RULINGS)


def written_by(extension_id: str, detail: Mapping[str, Any]) -> bool:
    """Did the extension cause this log entry (its request, applied by the gateway, or its hook)?"""
    actor = detail["metadata"].get("actor") or {}
    if actor.get("kind") in PEOPLE:
        return False
    bot = f"ext:{extension_id}"
    data = detail.get("data") or {}
    message = data.get("message")
    sender = message.get("sender_id") if isinstance(message, Mapping) else None
    return actor.get("id") in (extension_id, bot) or data.get("extension_id") == extension_id or sender == bot


@dataclass
class DayTally:
    """What the log of one chat says of one extension over ``[start, end)``, as far as it was read."""

    extension_id: str
    pattern: Mapping[str, Any]
    start: datetime
    end: datetime
    events: int = 0
    hook_calls: int = 0
    writes: Counter[str] = field(default_factory=Counter)
    read: int = 0
    last_sequence: int = 0

    def add(self, details: Iterable[Mapping[str, Any]]) -> None:
        """Log entries in sequence order; those stamped outside the day are read past, not counted."""
        for detail in details:
            self.read += 1
            self.last_sequence = max(self.last_sequence, int(detail["metadata"]["sequence"]))
            if not self.start <= occurred_at(detail) < self.end:
                continue
            if matches(self.pattern, on_bus(detail)):
                self.events += 1
            hooked = hook_call(self.extension_id, detail)
            self.hook_calls += hooked
            if hooked or written_by(self.extension_id, detail):
                self.writes[str(detail["metadata"]["event_type"])] += 1
