"""The analytics extension without AWS: the SDK's real delivery path on in-memory ports.

The central property: whatever order the bus delivers a chat's events in, however often, and even
when a handler dies halfway and its event comes again, the chat's report and the operators' summary
are exactly those of the same events delivered once, in order.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.adapters.memory import InMemoryStore
from parley.catalog import (
    SYSTEM,
    Actor,
    AIResponseCompleted,
    AIResponseFailed,
    AIResponseRequested,
    ChatCompleted,
    ChatCreated,
    Envelope,
    EventData,
    MessageStored,
    MessageView,
    ParticipantView,
    TurnChanged,
    UserJoined,
    UserLeft,
    new_event,
)
from parley.domain.model import Chat, ChatSettings, Install
from parley.extensions.builtin import _analytics_model as model
from parley.extensions.builtin.analytics import extension as analytics
from parley.extensions.sdk import Runtime
from parley.services.analytics import AnalyticsService
from parley.services.chats import ChatService
from tests.unit.analytics_log import Log

CHAT_ID = "0b7d3c1e-5a57-4c6b-9d55-3f1f6c0d2a10"
START = datetime(2026, 3, 30, 23, 0, tzinfo=UTC)  # a history may cross midnight (and a month)
NOW = datetime(2026, 4, 5, tzinfo=UTC)
PEOPLE = [("alice", "Alice", "human"), ("bob", "Bob, Jr.", "human"), ("oracle", 'The "Oracle"', "ai")]


# -- a chat's history as bus events --------------------------------------------------------------------


def bus_event(data: EventData, sequence: int, at: datetime, actor: Actor = SYSTEM) -> dict[str, Any]:
    envelope: Envelope[Any] = new_event(
        data, chat_id=CHAT_ID, actor=actor, occurred_at=at, extensions=("analytics",)
    ).with_sequence(sequence)
    return {"source": "parley.core", "detail-type": data.event_type, "detail": envelope.to_detail()}


def view(pid: str) -> ParticipantView:
    _, name, kind = next(p for p in PEOPLE if p[0] == pid)
    return ParticipantView(id=pid, name=name, kind=kind, role="owner" if pid == "alice" else "member")


@dataclass
class History:
    """Builds a plausible history: every event numbered in the chat's event log, time moving on."""

    mode: str = "round_robin"
    events: list[dict[str, Any]] = field(default_factory=list)
    at: datetime = START
    messages: int = 0
    turn: int = 0
    requests: int = 0

    def add(self, data: EventData, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.events.append(bus_event(data, len(self.events) + 1, self.at))

    def message(self, pid: str, text: str, seconds: float) -> None:
        self.messages += 1
        _, name, kind = next(p for p in PEOPLE if p[0] == pid)
        message = MessageView(
            message_id=f"m{self.messages}",
            chat_id=CHAT_ID,
            sequence=self.messages,
            sender_id=pid,
            sender_name=name,
            sender_kind=kind,
            text=text,
            created_at=self.at,
        )
        self.add(MessageStored(message=message, turn_mode=self.mode, turn_number=self.turn), seconds)

    def turn_to(self, pid: str | None, reason: str, seconds: float) -> None:
        self.turn += 1
        self.add(
            TurnChanged(turn_mode=self.mode, holder_id=pid, turn_number=self.turn, reason=reason),
            seconds,
        )


Step = tuple[str, str, int, float]


def history_of(steps: list[Step], completed: bool) -> list[dict[str, Any]]:
    h = History()
    h.add(
        ChatCreated(
            title="Plans",
            turn_mode="round_robin",
            created_by="alice",
            participants=(view("alice"), view("oracle")),
            settings={},
        ),
        0,
    )
    for pid in ("alice", "oracle"):
        h.add(UserJoined(participant=view(pid), turn_mode="round_robin"), 0)
    h.turn_to("alice", "started", 0)
    for kind, pid, size, seconds in steps:
        if kind == "msg":
            h.message(pid, "x" * size + ', "quoted"\nline', seconds)
            h.turn_to(pid, "message", 0.01)
        elif kind == "timeout":
            h.turn_to(pid, "timeout", seconds)
        elif kind == "join":
            h.add(UserJoined(participant=view("bob"), turn_mode="round_robin"), seconds)
        elif kind == "leave":
            h.add(UserLeft(participant_id="bob", turn_mode="round_robin"), seconds)
        elif kind in ("ai_ok", "ai_fail"):
            h.requests += 1
            request = f"turn-{h.requests}-oracle"
            h.add(
                AIResponseRequested(
                    request_id=request,
                    participant_id="oracle",
                    trigger="turn",
                    after_message_sequence=h.messages,
                ),
                seconds,
            )
            if kind == "ai_ok":
                h.message("oracle", "y" * size, seconds / 2)
                h.add(
                    AIResponseCompleted(
                        request_id=request,
                        participant_id="oracle",
                        message_id=f"m{h.messages}",
                        message_sequence=h.messages,
                        time_to_first_token_ms=size * 3.5,
                        duration_ms=size * 11.25,
                        input_tokens=size * 2,
                        output_tokens=size,
                    ),
                    0,
                )
            else:
                h.add(
                    AIResponseFailed(
                        request_id=request, participant_id="oracle", reason="timeout", detail="slow"
                    ),
                    seconds,
                )
    if completed:
        h.add(ChatCompleted(completed_by="alice"), 1)
    return h.events


steps = st.lists(
    st.tuples(
        st.sampled_from(["msg", "msg", "msg", "timeout", "join", "leave", "ai_ok", "ai_fail"]),
        st.sampled_from(["alice", "bob", "oracle"]),
        st.integers(min_value=1, max_value=60),
        st.floats(min_value=0, max_value=4 * 3600, allow_nan=False),
    ),
    max_size=25,
)


# -- the SDK on in-memory ports ------------------------------------------------------------------------


class DiesOnce(InMemoryStore):
    """A store whose ``fail_at``-th write (counted across the chat and the rollup) raises after it
    has written: the handler dies halfway, and the bus delivers the event again."""

    def __init__(self, counter: list[int], fail_at: int) -> None:
        super().__init__()
        self._counter = counter
        self._fail_at = fail_at

    def _wrote(self) -> None:
        self._counter[0] += 1
        if self._counter[0] == self._fail_at:
            raise ConnectionError("the Lambda died after this write")

    def put_new(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> bool:
        new = super().put_new(key, value, ttl_seconds=ttl_seconds)
        self._wrote()
        return new

    def tally(
        self,
        key: str,
        slot: str,
        counts: Mapping[str, int],
        tags: Mapping[str, Sequence[str]] | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> bool:
        counted = super().tally(key, slot, counts, tags, ttl_seconds=ttl_seconds)
        self._wrote()
        return counted


@dataclass
class Deployment:
    stores: dict[str, InMemoryStore]
    runtime: Runtime


def deployment(fail_at: int = 0) -> Deployment:
    counter = [0]
    stores: dict[str, InMemoryStore] = {}

    def state(extension_id: str, chat_id: str) -> InMemoryStore:
        return stores.setdefault(f"{extension_id}#{chat_id}", DiesOnce(counter, fail_at))

    chat = Chat(
        chat_id=CHAT_ID,
        title="Plans",
        turn_mode="round_robin",
        settings=ChatSettings(),
        created_by="alice",
        created_at=START,
        extensions={
            "analytics": Install(
                extension_id="analytics", version="1.0.0", installed_by="parley", installed_at=START
            )
        },
    )
    runtime = Runtime(
        load_chat=lambda chat_id: chat if chat_id == CHAT_ID else None,
        registry=dict,
        publish=lambda envelopes: None,
        state=state,
    )
    return Deployment(stores, runtime)


def deliver_all(events: list[dict[str, Any]], world: Deployment) -> None:
    """At-least-once: an event whose handler failed comes again later, until it goes through."""
    deployed = analytics._runtime  # the shipped extension object, on these ports for a while
    analytics.use(world.runtime)
    try:
        queue = list(events)
        while queue:
            event = queue.pop(0)
            try:
                analytics.deliver(event)
            except ConnectionError:
                queue.append(event)
    finally:
        analytics._runtime = deployed


def outcome(world: Deployment, log: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chat's report (folded from its log, as the API does) and the summary of the world's tallies."""
    blocks: dict[int, model.Block] = {}
    model.fold_into(blocks, [e["detail"] for e in log])
    report = model.chat_report(
        CHAT_ID, model.counted(blocks.values()), status="enabled", retention_days=90, now=NOW
    )
    service = AnalyticsService(
        cast(ChatService, None),
        lambda extension_id, chat_id: world.stores.setdefault(f"{extension_id}#{chat_id}", InMemoryStore()),
        Log([e["detail"] for e in log]),
        clock=lambda: NOW,
    )
    summary = service.summary(date(2026, 3, 25), date(2026, 4, 5))
    return report.model_dump(mode="json"), summary.model_dump(mode="json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=steps,
    completed=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    duplicates=st.integers(min_value=0, max_value=30),
    fail_at=st.integers(min_value=0, max_value=120),
)
def test_any_order_any_duplicates_and_a_crash_give_the_same_numbers(
    steps: list[Step], completed: bool, seed: int, duplicates: int, fail_at: int
) -> None:
    events = history_of(steps, completed)
    in_order = deployment()
    deliver_all(events, in_order)

    # the same events shuffled, some of them again (a redrive, a retry), and one handler dying
    rng = random.Random(seed)
    messy = [*events, *(rng.choice(events) for _ in range(duplicates))]
    rng.shuffle(messy)
    chaos = deployment(fail_at=fail_at)
    deliver_all(messy, chaos)

    assert outcome(chaos, events) == outcome(in_order, events)


# -- what the numbers mean -----------------------------------------------------------------------------


def run(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    world = deployment()
    deliver_all(events, world)
    return outcome(world, events)


def test_a_known_history_gives_known_numbers() -> None:
    steps: list[Step] = [
        ("msg", "alice", 10, 60),  # turn 1 -> 2 after 60 s
        ("ai_ok", "oracle", 20, 10),
        ("timeout", "bob", 0, 30),
        ("join", "bob", 0, 5),
        ("msg", "bob", 4, 3600),  # crosses midnight: 2026-03-31
        ("ai_fail", "oracle", 0, 5),
        ("leave", "bob", 0, 5),
    ]
    report, summary = run(history_of(steps, completed=True))
    suffix = len(', "quoted"\nline')

    messages = report["messages"]
    assert messages["count"] == 3
    assert messages["by_kind"]["human"] == {
        "count": 2,
        "total_length": 14 + 2 * suffix,
        "mean_length": round((14 + 2 * suffix) / 2, 1),
    }
    assert messages["by_kind"]["ai"]["total_length"] == 20
    assert [(s["sender_id"], s["name"], s["count"]) for s in messages["by_sender"]] == [
        ("alice", "Alice", 1),
        ("bob", "Bob, Jr.", 1),
        ("oracle", 'The "Oracle"', 1),
    ]
    turns = report["turns"]
    assert (turns["count"], turns["timeouts"], turns["measured"]) == (4, 1, 3)
    assert turns["by_mode"] == {"round_robin": {"count": 4, "timeouts": 1}}
    ai = report["ai"]
    assert (ai["requests"], ai["successes"], ai["failures"], ai["pending"], ai["success_rate"]) == (
        2,
        1,
        1,
        0,
        0.5,
    )
    assert ai["time_to_first_token_ms"] == {"p50": 70.0, "p95": 70.0}
    assert ai["response_time_ms"] == {"p50": 225.0, "p95": 225.0}
    assert (ai["input_tokens"], ai["output_tokens"]) == (40, 20)
    engagement = report["engagement"]
    assert (engagement["active_participants"], engagement["joins"], engagement["leaves"]) == (3, 3, 1)
    assert report["session"]["completed"] is True
    assert report["session"]["first_activity"] == "2026-03-30T23:00:00Z"
    assert [(d["date"], d["messages"], d["ai_replies"]) for d in report["daily"]] == [
        ("2026-03-30", 2, 1),
        ("2026-03-31", 1, 0),
    ]

    totals = summary["totals"]
    assert (totals["chats_created"], totals["chats_completed"], totals["completion_rate"]) == (1, 1, 1.0)
    assert (totals["messages"], totals["ai_replies"], totals["ai_failures"]) == (3, 1, 1)
    assert totals["active_participants"] == 3
    by_day = {d["date"]: d for d in summary["trend"]}
    assert by_day["2026-03-30"]["chats_created"] == 1
    assert by_day["2026-03-31"]["chats_completed"] == 1
    assert by_day["2026-03-31"]["active_participants"] == 1
    assert len(summary["trend"]) == 12


def test_turn_durations_pair_turn_numbers_not_arrivals() -> None:
    facts = {
        "9": ["turn", 130.0, 3, "round_robin", "message"],
        "5": ["turn", 100.0, 1, "round_robin", "started"],
        "7": ["turn", 110.0, 2, "round_robin", "message"],
        "12": ["turn", 400.0, 5, "round_robin", "timeout"],  # turn 4 never seen: 3 and 4 unmeasured
    }
    turns = model.chat_report(CHAT_ID, facts, status="enabled", retention_days=1, now=NOW).turns
    assert (turns.count, turns.measured, turns.timeouts) == (4, 2, 1)
    assert turns.mean_duration_ms == 15000.0
    assert turns.p95_duration_ms == 20000.0


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([], None, None), ([5.0], 5.0, 5.0), ([1, 2, 3, 4], 2.0, 4.0), (list(range(1, 101)), 50.0, 95.0)],
)
def test_percentiles_are_nearest_rank(values: list[float], p50: float | None, p95: float | None) -> None:
    assert (model.percentile(values, 50), model.percentile(values, 95)) == (p50, p95)


def test_a_fact_is_added_once_and_its_block_revision_moves_only_then() -> None:
    block = model.add_fact(None, "3", ["done", 1.0])
    assert model.add_fact(block, "3", ["done", 1.0]) == block == {"rev": 1, "facts": {"3": ["done", 1.0]}}
    assert model.add_fact(block, "4", ["leave", 2.0, "bob"])["rev"] == 2


def test_an_older_contribution_never_replaces_a_newer_one() -> None:
    newer = model.merge_contribution(None, CHAT_ID, "0", {"rev": 3, "m": 3})
    assert model.merge_contribution(newer, CHAT_ID, "0", {"rev": 2, "m": 2}) == newer
    assert model.merge_contribution(newer, CHAT_ID, "0", {"rev": 4, "m": 4})[CHAT_ID]["b"]["0"]["m"] == 4


def test_the_csv_is_rfc_4180_and_carries_every_value() -> None:
    report, _ = run(history_of([("msg", "bob", 3, 1), ("ai_ok", "oracle", 5, 1)], completed=False))

    text = model.to_csv(report)

    assert text.startswith("section,subject,metric,value\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    values = {(r["section"], r["subject"], r["metric"]): r["value"] for r in rows}
    assert values[("messages.by_sender", "oracle", "name")] == 'The "Oracle"'  # quoted and unquoted back
    assert values[("messages.by_sender", "bob", "name")] == "Bob, Jr."
    assert values[("chat", "", "status")] == "enabled"
    assert values[("ai.response_time_ms", "", "p50")] == "56.2"
    assert values[("turns.by_mode", "round_robin", "count")] == str(
        report["turns"]["by_mode"]["round_robin"]["count"]
    )
    assert values[("daily", "2026-03-30", "messages")] == "2"
    assert values[("session", "", "completed")] == "false"
    assert values[("session", "", "completed_at")] == ""


def test_no_message_text_is_kept() -> None:
    world = deployment()
    deliver_all(history_of([("msg", "alice", 5, 1)], completed=False), world)
    assert "quoted" not in repr(world.stores)
