"""The analytics extension's arithmetic: pure functions, no I/O (the extension and the API share it).

How the aggregates stay exact under at-least-once, unordered delivery:

- Every event the extension keeps becomes one **fact** (a small JSON array, never message text),
  stored under its identity: the event's chat event-log sequence. Facts live in **blocks** of
  ``BLOCK`` sequences (``facts#<sequence // BLOCK>``), so one write touches one small item.
  Adding a fact is a map insert keyed by identity: a duplicate changes nothing, and inserts
  commute, so any arrival order gives the same block.
- Reports are **folds over the facts in sequence order**, computed when read. Anything that
  depends on order is keyed by the events' own identities (a turn's duration is the gap between
  the TurnChanged of ``turn_number`` n and of n + 1; AI requests are matched by ``request_id``),
  never by arrival. Percentiles are exact: the raw values are the facts.
- The cross-chat **rollup** keeps, per UTC day and chat, one contribution per block, stamped with
  the block's revision; a write replaces a contribution only with a newer revision (a superset of
  facts). Replays, retries and races therefore converge on the same numbers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.catalog import Envelope

BLOCK = 50
"""Event-log sequences per facts item: about 3 KB per item, so one write stays a few write units."""
UNSEQUENCED_BLOCK = "u"
"""Facts of events without a log sequence (none expected: every subscribed type is logged)."""
ROLLUP_PARTITION = "_rollup"
"""The chat id slot of the cross-chat rollup's partition key: ``analytics#_rollup`` (chat ids are
UUIDs, so no chat can collide with it)."""
ROLLUP_SHARDS = 4
"""Each day's rollup is spread over this many items (by chat id), so a busy day stays far below
DynamoDB's 400 KB item limit (about 2,500 chats a day per item)."""
ROLLUP_RETENTION_DAYS = 400
"""How long the operators' daily rollup is kept (counts and salted hashes only, no names)."""
MAX_SUMMARY_DAYS = 92

SenderKind = Literal["human", "ai", "extension"]
SENDER_KINDS: tuple[SenderKind, ...] = ("human", "ai", "extension")
Fact = list[Any]
Facts = dict[str, Fact]


# --------------------------------------------------------------------------------------------------
# Events -> facts
# --------------------------------------------------------------------------------------------------


def _ts(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


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
    data, ts = envelope.data, _ts(envelope.metadata.occurred_at)
    match envelope.event_type:
        case "ChatCreated":
            return ["chat", ts, data.turn_mode]
        case "ChatSettingsChanged":
            return ["settings", ts, data.turn_mode]
        case "ChatCompleted":
            return ["done", ts]
        case "UserJoined":
            p = data.participant
            return ["join", ts, p.id, p.name, p.kind]
        case "UserLeft":
            return ["leave", ts, data.participant_id]
        case "MessageStored":
            m = data.message
            return ["msg", ts, m.sequence, m.sender_id, m.sender_name, m.sender_kind, len(m.text)]
        case "TurnChanged":
            return ["turn", ts, data.turn_number, data.turn_mode, data.reason]
        case "AIResponseRequested":
            return ["ai_req", ts, data.request_id, data.participant_id]
        case "AIResponseCompleted":
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
        case "AIResponseFailed":
            return ["ai_fail", ts, data.request_id, data.participant_id, data.reason]
    return None


def slot_of(envelope: Envelope[Any]) -> tuple[str, str]:
    """(block, slot): where the event's fact lives. The slot is the event's identity."""
    sequence = envelope.metadata.sequence
    if sequence is None:
        return UNSEQUENCED_BLOCK, envelope.metadata.event_id
    return str(sequence // BLOCK), str(sequence)


def block_key(block: str) -> str:
    return f"facts#{block}"


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


# --------------------------------------------------------------------------------------------------
# Small statistics
# --------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ranked = sorted(values)
    return round(ranked[max(0, math.ceil(p / 100 * len(ranked)) - 1)], 1)


def mean(total: float, count: int, digits: int = 1) -> float | None:
    return round(total / count, digits) if count else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


# --------------------------------------------------------------------------------------------------
# One chat's report
# --------------------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Period(_Out):
    start: datetime | None = Field(description="The earliest event still kept (null: nothing yet).")
    end: datetime | None = Field(description="The latest event counted.")
    retention_days: int = Field(description="Facts expire this many days after their last update.")
    generated_at: datetime


class LengthStats(_Out):
    count: int
    total_length: int = Field(description="Characters.")
    mean_length: float | None


class SenderStats(_Out):
    sender_id: str
    name: str
    kind: SenderKind
    count: int
    total_length: int
    mean_length: float | None


class MessageStats(_Out):
    count: int
    total_length: int
    mean_length: float | None
    by_kind: dict[str, LengthStats] = Field(description="`human`, `ai` and `extension` (bots).")
    by_sender: list[SenderStats]


class ModeStats(_Out):
    count: int
    timeouts: int


class TurnStats(_Out):
    count: int = Field(description="Turns started (TurnChanged), by distinct turn number.")
    timeouts: int = Field(description="Turns that ended because the holder let the time run out.")
    measured: int = Field(description="Turns whose end is known, the basis of the durations.")
    mean_duration_ms: float | None
    p95_duration_ms: float | None
    by_mode: dict[str, ModeStats]


class Percentiles(_Out):
    p50: float | None
    p95: float | None


class AIStats(_Out):
    requests: int = Field(description="Distinct AIResponseRequested request ids.")
    successes: int
    failures: int
    pending: int = Field(description="Requested, neither completed nor failed yet.")
    success_rate: float | None = Field(description="successes / (successes + failures).")
    time_to_first_token_ms: Percentiles
    response_time_ms: Percentiles
    input_tokens: int
    output_tokens: int


class ParticipantStats(_Out):
    participant_id: str
    name: str
    kind: Literal["human", "ai"]
    messages: int


class Engagement(_Out):
    active_participants: int = Field(description="Members (people and AI) who posted at least once.")
    joins: int
    leaves: int
    participants: list[ParticipantStats] = Field(description="Every member seen, with their messages.")


class Session(_Out):
    first_activity: datetime | None
    last_activity: datetime | None
    duration_seconds: float | None
    completed: bool
    completed_at: datetime | None


class DayStats(_Out):
    date: str = Field(description="UTC day, YYYY-MM-DD.")
    messages: int
    ai_replies: int
    active_participants: int


class ChatAnalytics(_Out):
    chat_id: str
    status: Literal["enabled", "disabled", "circuit_open", "not_installed"] = Field(
        description="The analytics extension on this chat; while off, nothing new is counted."
    )
    period: Period
    messages: MessageStats
    turns: TurnStats
    ai: AIStats
    engagement: Engagement
    session: Session
    daily: list[DayStats]


def chat_report(
    chat_id: str,
    facts: Mapping[str, Fact],
    *,
    status: Literal["enabled", "disabled", "circuit_open", "not_installed"],
    retention_days: int,
    now: datetime,
) -> ChatAnalytics:
    """Every per-chat aggregate, from the chat's facts (in any order, duplicates already merged)."""
    messages: dict[int, Fact] = {}
    turns: dict[int, Fact] = {}
    requested: set[str] = set()
    succeeded: dict[str, Fact] = {}
    failed: set[str] = set()
    names: dict[str, tuple[str, str]] = {}
    joins = leaves = 0
    done: list[float] = []
    stamps: list[float] = []
    for fact in ordered(facts):
        kind, ts = fact[0], float(fact[1])
        stamps.append(ts)
        if kind == "msg":
            messages.setdefault(int(fact[2]), fact)
            names[fact[3]] = (fact[4], fact[5])
        elif kind == "turn":
            turns.setdefault(int(fact[2]), fact)
        elif kind == "join":
            joins += 1
            names[fact[2]] = (fact[3], fact[4])
        elif kind == "leave":
            leaves += 1
        elif kind == "ai_req":
            requested.add(fact[2])
        elif kind == "ai_ok":
            succeeded.setdefault(fact[2], fact)
        elif kind == "ai_fail":
            failed.add(fact[2])
        elif kind == "done":
            done.append(ts)

    # messages, by kind and by sender
    kinds: dict[str, list[int]] = {k: [0, 0] for k in SENDER_KINDS}
    senders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    # every day with any event has a row, even one with only joins or turns
    days: dict[str, dict[str, Any]] = {
        d: {"messages": 0, "ai": 0, "active": set()} for d in {day_of(ts) for ts in stamps}
    }
    for fact in messages.values():
        _, ts, _, sender, _, sender_kind, length = fact
        kinds[sender_kind][0] += 1
        kinds[sender_kind][1] += length
        senders[sender][0] += 1
        senders[sender][1] += length
        day = days[day_of(ts)]
        day["messages"] += 1
        day["ai"] += sender_kind == "ai"
        if sender_kind != "extension":
            day["active"].add(sender)
    count = len(messages)
    total = sum(k[1] for k in kinds.values())
    by_sender = sorted(
        (
            SenderStats(
                sender_id=sender,
                name=names[sender][0],
                kind=names[sender][1],
                count=n,
                total_length=length,
                mean_length=mean(length, n),
            )
            for sender, (n, length) in senders.items()
        ),
        key=lambda s: (-s.count, s.sender_id),
    )

    # turns: a turn lasts from its TurnChanged to the next turn number's
    durations = [
        (float(turns[n + 1][1]) - float(fact[1])) * 1000 for n, fact in turns.items() if n + 1 in turns
    ]
    modes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fact in turns.values():
        modes[fact[3]][0] += 1
        modes[fact[3]][1] += fact[4] == "timeout"
    timeouts = sum(m[1] for m in modes.values())

    # AI: matched by request id
    ok = list(succeeded.values())
    failures = len(failed - succeeded.keys())
    asked = requested | succeeded.keys() | failed

    # engagement
    members = {pid for pid, (_, k) in names.items() if k in ("human", "ai")}
    posted = members & senders.keys()
    participants = sorted(
        (
            ParticipantStats(
                participant_id=pid,
                name=names[pid][0],
                kind=names[pid][1],
                messages=senders[pid][0] if pid in senders else 0,
            )
            for pid in members
        ),
        key=lambda p: (-p.messages, p.name, p.participant_id),
    )

    first, last = (min(stamps), max(stamps)) if stamps else (None, None)
    return ChatAnalytics(
        chat_id=chat_id,
        status=status,
        period=Period(start=_at(first), end=_at(last), retention_days=retention_days, generated_at=now),
        messages=MessageStats(
            count=count,
            total_length=total,
            mean_length=mean(total, count),
            by_kind={
                k: LengthStats(count=n, total_length=length, mean_length=mean(length, n))
                for k, (n, length) in kinds.items()
            },
            by_sender=by_sender,
        ),
        turns=TurnStats(
            count=len(turns),
            timeouts=timeouts,
            measured=len(durations),
            mean_duration_ms=mean(sum(durations), len(durations)),
            p95_duration_ms=percentile(durations, 95),
            by_mode={m: ModeStats(count=c, timeouts=t) for m, (c, t) in sorted(modes.items())},
        ),
        ai=AIStats(
            requests=len(asked),
            successes=len(ok),
            failures=failures,
            pending=len(asked) - len(ok) - failures,
            success_rate=ratio(len(ok), len(ok) + failures),
            time_to_first_token_ms=Percentiles(
                p50=percentile([f[4] for f in ok], 50), p95=percentile([f[4] for f in ok], 95)
            ),
            response_time_ms=Percentiles(
                p50=percentile([f[5] for f in ok], 50), p95=percentile([f[5] for f in ok], 95)
            ),
            input_tokens=sum(int(f[6]) for f in ok),
            output_tokens=sum(int(f[7]) for f in ok),
        ),
        engagement=Engagement(
            active_participants=len(posted),
            joins=joins,
            leaves=leaves,
            participants=participants,
        ),
        session=Session(
            first_activity=_at(first),
            last_activity=_at(last),
            duration_seconds=round(last - first, 3) if first is not None and last is not None else None,
            completed=bool(done),
            completed_at=_at(min(done)) if done else None,
        ),
        daily=[
            DayStats(date=d, messages=v["messages"], ai_replies=v["ai"], active_participants=len(v["active"]))
            for d, v in sorted(days.items())
        ],
    )


# --------------------------------------------------------------------------------------------------
# The cross-chat rollup
# --------------------------------------------------------------------------------------------------


def rollup_key(day: str, chat_id: str) -> str:
    return f"day#{day}#{zlib.crc32(chat_id.encode()) % ROLLUP_SHARDS}"


def rollup_keys(day: str) -> list[str]:
    return [f"day#{day}#{n}" for n in range(ROLLUP_SHARDS)]


def pseudonym(chat_id: str, participant_id: str) -> str:
    """Tells senders apart within a chat without naming anyone in the operators' rollup."""
    return hashlib.sha256(f"{chat_id}\x00{participant_id}".encode()).hexdigest()[:12]


def contributions(chat_id: str, block: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per UTC day, what one block of a chat's facts adds to the rollup, stamped with its revision.

    Keys: m messages, ai AI messages, q AI requests, ok AI successes, f AI failures, t turns,
    to turn time-outs, j joins, l leaves, c chat created, x chat completed, p senders (pseudonyms).
    """
    simple = {
        "ai_req": "q",
        "ai_ok": "ok",
        "ai_fail": "f",
        "join": "j",
        "leave": "l",
        "chat": "c",
        "done": "x",
    }
    out: dict[str, dict[str, Any]] = {}
    for fact in (block.get("facts") or {}).values():
        day = out.setdefault(day_of(float(fact[1])), {"rev": int(block.get("rev", 0))})
        counted: list[str] = []
        kind = fact[0]
        if kind in simple:
            counted.append(simple[kind])
        elif kind == "msg":
            counted += ["m", *(["ai"] if fact[5] == "ai" else [])]
            if fact[5] != "extension":
                day["p"] = sorted({*day.get("p", []), pseudonym(chat_id, fact[3])})
        elif kind == "turn":
            counted += ["t", *(["to"] if fact[4] == "timeout" else [])]
        for field in counted:
            day[field] = day.get(field, 0) + 1
    return out


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


class SummaryPeriod(_Out):
    start: date
    end: date
    days: int
    retention_days: int = Field(description="Days the operators' rollup is kept.")
    generated_at: datetime


class SummaryTotals(_Out):
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


class SummaryDay(_Out):
    date: str
    chats_created: int
    chats_completed: int = Field(description="Chats completed that day.")
    chats_active: int
    messages: int
    ai_replies: int
    ai_failures: int
    active_participants: int = Field(description="Members who posted that day, once per chat.")


class AnalyticsSummary(_Out):
    period: SummaryPeriod
    totals: SummaryTotals
    trend: list[SummaryDay]


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def summary_report(
    start: date, end: date, items: Mapping[str, Mapping[str, Any] | None], *, now: datetime
) -> AnalyticsSummary:
    """Totals and a day-by-day trend over [start, end], from the rollup items of those days."""
    fields = ("m", "ai", "q", "ok", "f", "t", "to", "j", "l", "c", "x")
    per_day: dict[str, dict[str, dict[str, Any]]] = {}  # day -> chat -> merged counts
    completed_chats: dict[str, str] = {}
    for key, item in items.items():
        day = key.split("#")[1]
        for chat_id, entry in (item or {}).items():
            if entry.get("done"):
                completed_chats[chat_id] = str(entry["done"])
            merged = per_day.setdefault(day, {}).setdefault(chat_id, {"p": set()})
            for contribution in (entry.get("b") or {}).values():
                for field in fields:
                    merged[field] = merged.get(field, 0) + int(contribution.get(field, 0))
                merged["p"] |= set(contribution.get("p", []))

    trend: list[SummaryDay] = []
    created: set[str] = set()
    active: set[str] = set()
    posted: dict[str, set[str]] = defaultdict(set)
    totals: dict[str, int] = defaultdict(int)
    for day in days_between(start, end):
        chats = per_day.get(day, {})
        for chat_id, counts in chats.items():
            for field in fields:
                totals[field] += counts.get(field, 0)
            if counts.get("c"):
                created.add(chat_id)
            if counts.get("m"):
                active.add(chat_id)
            posted[chat_id] |= counts["p"]
        trend.append(
            SummaryDay(
                date=day,
                chats_created=sum(1 for c in chats.values() if c.get("c")),
                chats_completed=sum(1 for c in chats.values() if c.get("x")),
                chats_active=sum(1 for c in chats.values() if c.get("m")),
                messages=sum(c.get("m", 0) for c in chats.values()),
                ai_replies=sum(c.get("ai", 0) for c in chats.values()),
                ai_failures=sum(c.get("f", 0) for c in chats.values()),
                active_participants=sum(len(c["p"]) for c in chats.values()),
            )
        )
    completed = sum(1 for chat_id in created if chat_id in completed_chats)
    return AnalyticsSummary(
        period=SummaryPeriod(
            start=start,
            end=end,
            days=len(trend),
            retention_days=ROLLUP_RETENTION_DAYS,
            generated_at=now,
        ),
        totals=SummaryTotals(
            chats_created=len(created),
            chats_completed=completed,
            completion_rate=ratio(completed, len(created)),
            chats_active=len(active),
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
            active_participants=sum(len(p) for p in posted.values()),
        ),
        trend=trend,
    )


# --------------------------------------------------------------------------------------------------
# CSV: one tidy table for any report
# --------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("section", "subject", "metric", "value")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def rows(document: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """A report (as JSON) as (section, subject, metric, value) rows.

    Top-level scalars are in section ``chat`` (or ``report``); a nested object is a section named by
    its dotted path; an object of objects (``by_kind``) and a list of objects (``by_sender``,
    ``daily``) are collections: one subject per key, or per item's first field (its id).
    """
    out: list[tuple[str, str, str, str]] = []

    def record(section: str, subject: str, obj: Mapping[str, Any]) -> None:
        for key, value in obj.items():
            path = f"{section}.{key}"
            if _scalar(value):
                out.append((section, subject, key, _cell(value)))
            elif isinstance(value, list):
                collection(path, value)
            elif value and all(isinstance(v, dict) for v in value.values()):
                for name, item in value.items():
                    record(path, name, item)
            elif value:
                record(path, subject, value)

    def collection(path: str, items: list[Any]) -> None:
        for item in items:
            ident, *_ = item
            record(path, _cell(item[ident]), {k: v for k, v in item.items() if k != ident})

    top = "chat" if "chat_id" in document else "report"
    record(top, "", {k: v for k, v in document.items() if _scalar(v)})
    for key, value in document.items():
        if isinstance(value, list):
            collection(key, value)
        elif isinstance(value, dict):
            record(key, "", value)
    return out


def to_csv(document: Mapping[str, Any]) -> str:
    """RFC 4180: a header row, CRLF line ends, fields quoted where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows(document))
    return buffer.getvalue()
