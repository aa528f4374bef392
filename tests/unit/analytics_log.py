"""A chat's event log for the analytics service's tests, with the core's active-day index over it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class Log:
    """The chats' event log; ``shown`` entries of it exist so far. Records every read's ``after``.

    ``active_chats`` follows the core's rule (``parley.adapters.dynamodb.new_active_day``): a chat
    enters a day's index with the first stored message of a UTC day later than its latest one (from
    sequence 1 when it had no day yet)."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        self.shown = len(details)
        self.reads: list[int | None] = []

    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        self.reads.append(after)
        newer = [
            d
            for d in self.details[: self.shown]
            if d["metadata"]["chat_id"] == chat_id and d["metadata"]["sequence"] > (after or 0)
        ]
        newer.sort(key=lambda d: int(d["metadata"]["sequence"]))
        return newer[:limit], len(newer) > limit

    def active_chats(self, day: str) -> dict[str, int]:
        latest: dict[str, str] = {}
        found: dict[str, int] = {}
        shown = sorted(self.details[: self.shown], key=lambda d: int(d["metadata"]["sequence"]))
        for detail in shown:
            meta = detail["metadata"]
            if meta["event_type"] != "MessageStored":
                continue
            at = datetime.fromisoformat(str(meta["occurred_at"]).replace("Z", "+00:00"))
            started = at.astimezone(UTC).date().isoformat()
            if started > latest.get(meta["chat_id"], ""):
                first = int(meta["sequence"]) if meta["chat_id"] in latest else 1  # no day yet: from 1
                latest[meta["chat_id"]] = started
                if started == day:
                    found[meta["chat_id"]] = first
        return found
