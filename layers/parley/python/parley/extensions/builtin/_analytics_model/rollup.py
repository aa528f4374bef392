"""The operators' cross-chat rollup: bounded tally rows, one per (day, chat, block of sequences).

Each kept event adds its counts to the row ``<chat id>#<sequence // ROLLUP_BLOCK>`` in the
partition of its UTC day and the chat's shard (``analytics#_rollup#<day>#<shard>``), once: the row
keeps the slots it has counted, and a replay adds nothing (``Store.tally``, a blind UpdateItem with
ADD). Additions commute, so any order and any number of duplicates give the same counts, and no row
holds more than ``ROLLUP_BLOCK`` events of one chat, however many chats are active that day. The
summary reads a day as one paginated Query per shard.

Rollups written before (one item per day and shard holding every chat, each contribution stamped
with its block's revision) are still read, so the summary keeps its history.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import Field

from parley.extensions.builtin._analytics_model.reports import Frozen
from parley.extensions.builtin._analytics_model.stats import day_of, days_between, ratio

ROLLUP_PARTITION = "_rollup"
"""The chat id slot of the cross-chat rollup's partition key: ``analytics#_rollup`` (chat ids are
UUIDs, so no chat can collide with it)."""
ROLLUP_SHARDS = 4
"""Each day's rollup is spread over this many items (by chat id), so a busy day stays far below
DynamoDB's 400 KB item limit (about 2,500 chats a day per item)."""
ROLLUP_RETENTION_DAYS = 400
"""How long the operators' daily rollup is kept (counts and salted hashes only, no names)."""
MAX_SUMMARY_DAYS = 92

ROLLUP_BLOCK = 20
"""Event-log sequences per tally row: its ``slots`` and sender set stay well under 1 KB (1 WRU)."""

_COUNTED = {"ai_req": "q", "ai_ok": "ok", "ai_fail": "f", "join": "j", "leave": "l", "chat": "c", "done": "x"}
"""Fact kinds counted as they are (the rest, messages and turns, are counted in ``_count``)."""
_FIELDS = ("m", "ai", "q", "ok", "f", "t", "to", "j", "l", "c", "x")


def rollup_key(day: str, chat_id: str) -> str:
    return f"day#{day}#{zlib.crc32(chat_id.encode()) % ROLLUP_SHARDS}"


def rollup_keys(day: str) -> list[str]:
    return [f"day#{day}#{n}" for n in range(ROLLUP_SHARDS)]


def rollup_partition(day: str, chat_id: str) -> str:
    """The chat-id slot of the tally rows' partition for this day and chat (its shard)."""
    return f"{ROLLUP_PARTITION}#{day}#{zlib.crc32(chat_id.encode()) % ROLLUP_SHARDS}"


def rollup_partitions(day: str) -> list[str]:
    return [f"{ROLLUP_PARTITION}#{day}#{n}" for n in range(ROLLUP_SHARDS)]


LOGGED = frozenset({"m", "ai", "p"})
"""The figures folded from the logs of the chats active on a day, not tallied per event: messages,
AI replies and senders (analytics is not handed MessageStored, so a post costs it nothing)."""
DAY_SKEW_SECONDS = 300
"""A day is final this long after its UTC midnight; its fold reads the log this far past the day, so
a message stamped by a slightly slow clock after the next day's first is still found."""


BACKFILL_PARTITION = f"{ROLLUP_PARTITION}#backfill"
"""Rows ``<chat id>`` with tag ``a``: the ``backfill_through`` of each enabling of analytics that
asked for a backfill (an enabling after a day can cover that day's messages)."""


def logged_partition(day: str, chat_id: str) -> str:
    """Where a finished day's fold of one chat is cached (``_rollup#log#<day>#<shard>``)."""
    return f"{ROLLUP_PARTITION}#log#{day}#{zlib.crc32(chat_id.encode()) % ROLLUP_SHARDS}"


def logged_partitions(day: str) -> list[str]:
    return [f"{ROLLUP_PARTITION}#log#{day}#{n}" for n in range(ROLLUP_SHARDS)]


def day_counts(
    chat_id: str, facts: Mapping[str, list[Any]], day: str, windows: Sequence[int] = ()
) -> dict[str, Any]:
    """What one chat's counted facts add to the ``LOGGED`` figures of one UTC day; ``a`` keeps the
    backfill windows the fold honoured (a later enabling makes a cached day stale)."""
    counts: dict[str, Any] = {"m": 0, "ai": 0, "p": set(), "a": sorted(windows)}
    for fact in facts.values():
        if fact[0] != "msg" or day_of(float(fact[1])) != day:
            continue
        for name in _count(fact):
            counts[name] += 1
        counts["p"] |= set(tally_of(chat_id, fact)[1].get("p", []))
    return {**counts, "p": sorted(counts["p"])}


def tally_row(chat_id: str, slot: str) -> str:
    """The tally row of the event in ``slot`` (its sequence; unsequenced events share one row)."""
    return f"{chat_id}#{int(slot) // ROLLUP_BLOCK if slot.isdigit() else 'u'}"


def done_row(chat_id: str) -> str:
    """On the chat's creation day: the days it was completed (the earliest counts)."""
    return f"{chat_id}#done"


def tally_of(chat_id: str, fact: list[Any]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(counts, tags) one fact adds to its tally row; tag ``p`` is the sender's pseudonym."""
    counts = {name: 1 for name in _count(fact)}
    tags = {"p": [pseudonym(chat_id, fact[3])]} if fact[0] == "msg" and fact[5] != "extension" else {}
    return counts, tags


def pseudonym(chat_id: str, participant_id: str) -> str:
    """Tells senders apart within a chat without naming anyone in the operators' rollup."""
    return hashlib.sha256(f"{chat_id}\x00{participant_id}".encode()).hexdigest()[:12]


def contributions(chat_id: str, block: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per UTC day, what one block of a chat's facts adds to the rollup, stamped with its revision.

    Keys: m messages, ai AI messages, q AI requests, ok AI successes, f AI failures, t turns,
    to turn time-outs, j joins, l leaves, c chat created, x chat completed, p senders (pseudonyms).
    """
    out: dict[str, dict[str, Any]] = {}
    for fact in (block.get("facts") or {}).values():
        day = out.setdefault(day_of(float(fact[1])), {"rev": int(block.get("rev", 0))})
        if fact[0] == "msg" and fact[5] != "extension":
            day["p"] = sorted({*day.get("p", []), pseudonym(chat_id, fact[3])})
        for counted in _count(fact):
            day[counted] = day.get(counted, 0) + 1
    return out


def _count(fact: list[Any]) -> list[str]:
    """The rollup fields one fact adds 1 to."""
    kind = fact[0]
    if kind in _COUNTED:
        return [_COUNTED[kind]]
    if kind == "msg":
        return ["m", *(["ai"] if fact[5] == "ai" else [])]
    if kind == "turn":
        return ["t", *(["to"] if fact[4] == "timeout" else [])]
    return []


def merge_contribution(
    item: Mapping[str, Any] | None, chat_id: str, block: str, contribution: Mapping[str, Any]
) -> dict[str, Any]:
    """The rollup item with this block's contribution, unless it already holds a newer one."""
    current = {k: dict(v) for k, v in (item or {}).items()}
    chat = current.setdefault(chat_id, {})
    blocks = dict(chat.get("b") or {})
    held = blocks.get(block)
    if held is not None and int(held.get("rev", 0)) >= int(contribution.get("rev", 0)):
        return current
    blocks[block] = dict(contribution)
    chat["b"] = blocks
    return current


def mark_completed(item: Mapping[str, Any] | None, chat_id: str, day: str) -> dict[str, Any]:
    """On the creation day's item: the chat was completed (on ``day``); the earliest day wins."""
    current = {k: dict(v) for k, v in (item or {}).items()}
    chat = current.setdefault(chat_id, {})
    if chat.get("done") is None or str(chat["done"]) > day:
        chat["done"] = day
    return current


class SummaryPeriod(Frozen):
    start: date
    end: date
    days: int
    retention_days: int = Field(description="Days the operators' rollup is kept.")
    generated_at: datetime


class SummaryTotals(Frozen):
    chats_created: int
    chats_completed: int = Field(description="Of the chats created in the period, those completed since.")
    completion_rate: float | None = Field(description="chats_completed / chats_created.")
    chats_active: int = Field(description="Chats with at least one message in the period.")
    messages: int
    ai_replies: int = Field(description="Messages written by AI participants.")
    ai_requests: int
    ai_successes: int
    ai_failures: int
    ai_success_rate: float | None
    turns: int
    turn_timeouts: int
    joins: int
    leaves: int
    active_participants: int = Field(description="Members who posted, counted once per chat.")


class SummaryDay(Frozen):
    date: str
    chats_created: int
    chats_completed: int = Field(description="Chats completed that day.")
    chats_active: int
    messages: int
    ai_replies: int
    ai_failures: int
    active_participants: int = Field(description="Members who posted that day, once per chat.")


class AnalyticsSummary(Frozen):
    period: SummaryPeriod
    totals: SummaryTotals
    trend: list[SummaryDay]


Day = dict[str, dict[str, Any]]
"""Chat id -> that chat's counts on one day, every block's contribution added up."""


@dataclass
class _Totals:
    """The period's running totals, a day at a time."""

    created: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    posted: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, chats: Day) -> None:
        for chat_id, counts in chats.items():
            for name in _FIELDS:
                self.counts[name] += counts.get(name, 0)
            if counts.get("c"):
                self.created.add(chat_id)
            if counts.get("m"):
                self.active.add(chat_id)
            self.posted[chat_id] |= counts["p"]

    def summary(self, completed_chats: Mapping[str, str]) -> SummaryTotals:
        totals = self.counts
        completed = sum(1 for chat_id in self.created if chat_id in completed_chats)
        return SummaryTotals(
            chats_created=len(self.created),
            chats_completed=completed,
            completion_rate=ratio(completed, len(self.created)),
            chats_active=len(self.active),
            messages=totals["m"],
            ai_replies=totals["ai"],
            ai_requests=totals["q"],
            ai_successes=totals["ok"],
            ai_failures=totals["f"],
            ai_success_rate=ratio(totals["ok"], totals["ok"] + totals["f"]),
            turns=totals["t"],
            turn_timeouts=totals["to"],
            joins=totals["j"],
            leaves=totals["l"],
            active_participants=sum(len(p) for p in self.posted.values()),
        )


def summary_report(
    start: date,
    end: date,
    items: Mapping[str, Mapping[str, Any] | None],
    *,
    now: datetime,
    tallies: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    logged: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> AnalyticsSummary:
    """Totals and a day-by-day trend over [start, end], from the tally rows of those days (by
    partition, as ``rollup_partitions`` names them), any older rollup items, and the ``LOGGED``
    figures of each chat active on a day (day -> chat -> ``day_counts``), which replace the
    tallies' (events tallied before analytics stopped subscribing to MessageStored)."""
    per_day, completed_chats = _merge_items(items)
    _merge_tallies(tallies or {}, per_day, completed_chats)
    for day, chats in (logged or {}).items():
        for chat_id, counts in chats.items():
            merged = per_day.setdefault(day, {}).setdefault(chat_id, {"p": set()})
            merged.update(m=int(counts["m"]), ai=int(counts["ai"]), p=set(counts["p"]))
    trend: list[SummaryDay] = []
    totals = _Totals()
    for day in days_between(start, end):
        chats = per_day.get(day, {})
        totals.add(chats)
        trend.append(_summary_day(day, chats))
    return AnalyticsSummary(
        period=SummaryPeriod(
            start=start,
            end=end,
            days=len(trend),
            retention_days=ROLLUP_RETENTION_DAYS,
            generated_at=now,
        ),
        totals=totals.summary(completed_chats),
        trend=trend,
    )


def _merge_items(items: Mapping[str, Mapping[str, Any] | None]) -> tuple[dict[str, Day], dict[str, str]]:
    """(day -> chat -> merged counts, chat -> the day it was completed) from the rollup's items."""
    per_day: dict[str, Day] = {}
    completed_chats: dict[str, str] = {}
    for key, item in items.items():
        day = key.split("#")[1]
        for chat_id, entry in (item or {}).items():
            if entry.get("done"):
                completed_chats[chat_id] = str(entry["done"])
            merged = per_day.setdefault(day, {}).setdefault(chat_id, {"p": set()})
            for contribution in (entry.get("b") or {}).values():
                for name in _FIELDS:
                    merged[name] = merged.get(name, 0) + int(contribution.get(name, 0))
                merged["p"] |= set(contribution.get("p", []))
    return per_day, completed_chats


def _merge_tallies(
    tallies: Mapping[str, Mapping[str, Mapping[str, Any]]], per_day: dict[str, Day], completed: dict[str, str]
) -> None:
    """Adds the tally rows (partition -> row key -> counts and tags) into ``per_day``/``completed``."""
    for partition, rows in tallies.items():
        day = partition.split("#")[1]
        for key, row in rows.items():
            chat_id, _, block = key.rpartition("#")
            if block == "done":
                first = min(row["tags"].get("done", set()), default=None)
                if first is not None and (chat_id not in completed or completed[chat_id] > first):
                    completed[chat_id] = first
                continue
            merged = per_day.setdefault(day, {}).setdefault(chat_id, {"p": set()})
            for name in _FIELDS:
                merged[name] = merged.get(name, 0) + int(row["counts"].get(name, 0))
            merged["p"] |= set(row["tags"].get("p", set()))


def _summary_day(day: str, chats: Day) -> SummaryDay:
    return SummaryDay(
        date=day,
        chats_created=sum(1 for c in chats.values() if c.get("c")),
        chats_completed=sum(1 for c in chats.values() if c.get("x")),
        chats_active=sum(1 for c in chats.values() if c.get("m")),
        messages=sum(c.get("m", 0) for c in chats.values()),
        ai_replies=sum(c.get("ai", 0) for c in chats.values()),
        ai_failures=sum(c.get("f", 0) for c in chats.values()),
        active_participants=sum(len(c["p"]) for c in chats.values()),
    )
