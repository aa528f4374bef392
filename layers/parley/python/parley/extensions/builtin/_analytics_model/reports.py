"""One chat's report: a fold over its facts in event-log order, computed when read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.extensions.builtin._analytics_model.config import Status
from parley.extensions.builtin._analytics_model.facts import Fact, ordered
from parley.extensions.builtin._analytics_model.stats import at, day_of, mean, percentile, ratio

SenderKind = Literal["human", "ai", "extension"]
SENDER_KINDS: tuple[SenderKind, ...] = ("human", "ai", "extension")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class Period(Frozen):
    start: datetime | None = Field(description="The earliest event still kept (null: nothing yet).")
    end: datetime | None = Field(description="The latest event counted.")
    retention_days: int = Field(description="Events older than this many days no longer count.")
    generated_at: datetime


class LengthStats(Frozen):
    count: int
    total_length: int = Field(description="Characters.")
    mean_length: float | None


class SenderStats(Frozen):
    sender_id: str
    name: str
    kind: SenderKind
    count: int
    total_length: int
    mean_length: float | None


class MessageStats(Frozen):
    count: int
    total_length: int
    mean_length: float | None
    by_kind: dict[str, LengthStats] = Field(description="`human`, `ai` and `extension` (bots).")
    by_sender: list[SenderStats]


class ModeStats(Frozen):
    count: int
    timeouts: int


class TurnStats(Frozen):
    count: int = Field(description="Turns started (TurnChanged), by distinct turn number.")
    timeouts: int = Field(description="Turns that ended because the holder let the time run out.")
    measured: int = Field(description="Turns whose end is known, the basis of the durations.")
    mean_duration_ms: float | None
    p95_duration_ms: float | None
    by_mode: dict[str, ModeStats]


class Percentiles(Frozen):
    p50: float | None
    p95: float | None


class AIStats(Frozen):
    requests: int = Field(description="Distinct AIResponseRequested request ids.")
    successes: int
    failures: int
    pending: int = Field(description="Requested, neither completed nor failed yet.")
    success_rate: float | None = Field(description="successes / (successes + failures).")
    time_to_first_token_ms: Percentiles
    response_time_ms: Percentiles
    input_tokens: int
    output_tokens: int


class ParticipantStats(Frozen):
    participant_id: str
    name: str
    kind: Literal["human", "ai"]
    messages: int


class Engagement(Frozen):
    active_participants: int = Field(description="Members (people and AI) who posted at least once.")
    joins: int
    leaves: int
    participants: list[ParticipantStats] = Field(description="Every member seen, with their messages.")


class Session(Frozen):
    first_activity: datetime | None
    last_activity: datetime | None
    duration_seconds: float | None
    completed: bool
    completed_at: datetime | None


class DayStats(Frozen):
    date: str = Field(description="UTC day, YYYY-MM-DD.")
    messages: int
    ai_replies: int
    active_participants: int


class ChatAnalytics(Frozen):
    chat_id: str
    status: Status = Field(
        description="The analytics extension on this chat; while off, nothing new is counted."
    )
    period: Period
    messages: MessageStats
    turns: TurnStats
    ai: AIStats
    engagement: Engagement
    session: Session
    daily: list[DayStats]


@dataclass
class _Fold:
    """A chat's facts, deduplicated by their own identities (the first in log order wins)."""

    messages: dict[int, Fact] = field(default_factory=dict)
    turns: dict[int, Fact] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)
    succeeded: dict[str, Fact] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    joins: int = 0
    leaves: int = 0
    done: list[float] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)

    def add(self, fact: Fact) -> None:
        kind, ts = fact[0], float(fact[1])
        self.stamps.append(ts)
        if kind == "msg":
            self.messages.setdefault(int(fact[2]), fact)
            self.names[fact[3]] = (fact[4], fact[5])
        elif kind == "turn":
            self.turns.setdefault(int(fact[2]), fact)
        elif kind == "join":
            self.joins += 1
            self.names[fact[2]] = (fact[3], fact[4])
        elif kind == "leave":
            self.leaves += 1
        elif kind == "ai_req":
            self.requested.add(fact[2])
        elif kind == "ai_ok":
            self.succeeded.setdefault(fact[2], fact)
        elif kind == "ai_fail":
            self.failed.add(fact[2])
        elif kind == "done":
            self.done.append(ts)

    def senders(self) -> dict[str, list[int]]:
        """Sender id -> [messages, characters]."""
        senders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for fact in self.messages.values():
            senders[fact[3]][0] += 1
            senders[fact[3]][1] += fact[6]
        return senders


def chat_report(
    chat_id: str,
    facts: Mapping[str, Fact],
    *,
    status: Status,
    retention_days: int,
    now: datetime,
) -> ChatAnalytics:
    """Every per-chat aggregate, from the chat's facts (in any order, duplicates already merged)."""
    fold = _Fold()
    for fact in ordered(facts):
        fold.add(fact)
    senders = fold.senders()
    first, last = (min(fold.stamps), max(fold.stamps)) if fold.stamps else (None, None)
    return ChatAnalytics(
        chat_id=chat_id,
        status=status,
        period=Period(start=at(first), end=at(last), retention_days=retention_days, generated_at=now),
        messages=_messages(fold, senders),
        turns=_turns(fold),
        ai=_ai(fold),
        engagement=_engagement(fold, senders),
        session=Session(
            first_activity=at(first),
            last_activity=at(last),
            duration_seconds=round(last - first, 3) if first is not None and last is not None else None,
            completed=bool(fold.done),
            completed_at=at(min(fold.done)) if fold.done else None,
        ),
        daily=_daily(fold),
    )


def _messages(fold: _Fold, senders: Mapping[str, list[int]]) -> MessageStats:
    kinds: dict[str, list[int]] = {k: [0, 0] for k in SENDER_KINDS}
    for fact in fold.messages.values():
        kinds[fact[5]][0] += 1
        kinds[fact[5]][1] += fact[6]
    count = len(fold.messages)
    total = sum(k[1] for k in kinds.values())
    by_sender = sorted(
        (
            SenderStats(
                sender_id=sender,
                name=fold.names[sender][0],
                kind=fold.names[sender][1],
                count=n,
                total_length=length,
                mean_length=mean(length, n),
            )
            for sender, (n, length) in senders.items()
        ),
        key=lambda s: (-s.count, s.sender_id),
    )
    return MessageStats(
        count=count,
        total_length=total,
        mean_length=mean(total, count),
        by_kind={
            k: LengthStats(count=n, total_length=length, mean_length=mean(length, n))
            for k, (n, length) in kinds.items()
        },
        by_sender=by_sender,
    )


def _turns(fold: _Fold) -> TurnStats:
    """A turn lasts from its TurnChanged to the next turn number's."""
    turns = fold.turns
    durations = [
        (float(turns[n + 1][1]) - float(fact[1])) * 1000 for n, fact in turns.items() if n + 1 in turns
    ]
    modes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fact in turns.values():
        modes[fact[3]][0] += 1
        modes[fact[3]][1] += fact[4] == "timeout"
    return TurnStats(
        count=len(turns),
        timeouts=sum(m[1] for m in modes.values()),
        measured=len(durations),
        mean_duration_ms=mean(sum(durations), len(durations)),
        p95_duration_ms=percentile(durations, 95),
        by_mode={m: ModeStats(count=c, timeouts=t) for m, (c, t) in sorted(modes.items())},
    )


def _ai(fold: _Fold) -> AIStats:
    """AI requests are matched by request id, so a reply counts once whatever order it came in."""
    ok = list(fold.succeeded.values())
    failures = len(fold.failed - fold.succeeded.keys())
    asked = fold.requested | fold.succeeded.keys() | fold.failed
    return AIStats(
        requests=len(asked),
        successes=len(ok),
        failures=failures,
        pending=len(asked) - len(ok) - failures,
        success_rate=ratio(len(ok), len(ok) + failures),
        time_to_first_token_ms=_percentiles([f[4] for f in ok]),
        response_time_ms=_percentiles([f[5] for f in ok]),
        input_tokens=sum(int(f[6]) for f in ok),
        output_tokens=sum(int(f[7]) for f in ok),
    )


def _percentiles(values: list[float]) -> Percentiles:
    return Percentiles(p50=percentile(values, 50), p95=percentile(values, 95))


def _engagement(fold: _Fold, senders: Mapping[str, list[int]]) -> Engagement:
    members = {pid for pid, (_, k) in fold.names.items() if k in ("human", "ai")}
    participants = sorted(
        (
            ParticipantStats(
                participant_id=pid,
                name=fold.names[pid][0],
                kind=fold.names[pid][1],
                messages=senders[pid][0] if pid in senders else 0,
            )
            for pid in members
        ),
        key=lambda p: (-p.messages, p.name, p.participant_id),
    )
    return Engagement(
        active_participants=len(members & senders.keys()),
        joins=fold.joins,
        leaves=fold.leaves,
        participants=participants,
    )


def _daily(fold: _Fold) -> list[DayStats]:
    """Every day with any event has a row, even one with only joins or turns."""
    days: dict[str, dict[str, Any]] = {
        d: {"messages": 0, "ai": 0, "active": set()} for d in {day_of(ts) for ts in fold.stamps}
    }
    for fact in fold.messages.values():
        _, ts, _, sender, _, sender_kind, _ = fact
        day = days[day_of(ts)]
        day["messages"] += 1
        day["ai"] += sender_kind == "ai"
        if sender_kind != "extension":
            day["active"].add(sender)
    return [
        DayStats(date=d, messages=v["messages"], ai_replies=v["ai"], active_participants=len(v["active"]))
        for d, v in sorted(days.items())
    ]
