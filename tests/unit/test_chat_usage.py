"""One extension's usage in one chat on a UTC day, folded from the chat's log
(``parley.domain.extension_usage`` and ``parley.services.chat_usage``): what its rule was handed and
what the log records on its behalf, read in a bounded number of pages, a finished day cached."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.cost import load_prices
from parley.adapters.dynamodb import LoadedChat
from parley.adapters.memory import InMemoryStore
from parley.catalog import (
    Actor,
    EventData,
    ExtensionActivated,
    ExtensionEventRejected,
    ExtensionInstalled,
    ExtensionShadowOutput,
    MessageModerated,
    MessageStored,
    MessageView,
    TurnValidationRequested,
    UserJoined,
    new_event,
)
from parley.domain.extension_usage import DayTally
from parley.domain.model import Chat, ChatSettings
from parley.errors import ChatNotFoundError, ExtensionNotFoundError
from parley.extensions.builtin.sentiment import extension as sentiment
from parley.extensions.builtin.welcome import extension as welcome
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.usage import HOOK_CALL_USD, USAGE_USD
from parley.http.app import openapi_json
from parley.routing import extension_route
from parley.services import chat_usage
from parley.services.chat_usage import ChatUsageService
from tests.unit.samples import ALICE_VIEW

CHAT = "5f0c1a2e-8d7b-4e3a-9c61-2b4d6e8f0a13"
DAY = date(2026, 11, 20)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)
ALICE = Actor(id="user-alice", kind="user", name="Alice")
GATEWAY = Actor(id="extension_gateway", kind="system", name="Parley")


def entry(
    data: EventData, sequence: int, at: datetime, *, enabled: tuple[str, ...] = (), actor: Actor = ALICE
) -> dict[str, Any]:
    envelope = new_event(data, chat_id=CHAT, actor=actor, occurred_at=at, extensions=enabled)
    return envelope.with_sequence(sequence, extensions=enabled).to_detail()


def post(sequence: int, *, sender: str = "user-alice", kind: Any = "human") -> MessageStored:
    view = MessageView(
        message_id=f"m{sequence}",
        chat_id=CHAT,
        sequence=sequence,
        sender_id=sender,
        sender_name=sender,
        sender_kind=kind,
        text="hello",
        created_at=MIDNIGHT,
    )
    return MessageStored(message=view, turn_mode="free", turn_number=0)


def tally(extension: ExtensionDocument) -> DayTally:
    pattern = extension_route(extension).pattern
    return DayTally(extension.id, pattern, MIDNIGHT, MIDNIGHT + timedelta(days=1))


SENTIMENT = sentiment.manifest.document()
WELCOME = welcome.manifest.document()


def test_only_the_days_events_its_rule_matches_count_from_its_enabling_on() -> None:
    # Given posts the evening before, posts this morning before sentiment is enabled, its
    # activation at noon, posts after it, a join (not subscribed) and a post the next day
    on = ("sentiment",)
    log = [
        entry(post(1), 1, MIDNIGHT - timedelta(hours=1), enabled=on),
        entry(post(2), 2, MIDNIGHT + timedelta(hours=9)),
        entry(ExtensionActivated(extension_id="sentiment"), 3, MIDNIGHT + timedelta(hours=12), enabled=on),
        entry(post(4), 4, MIDNIGHT + timedelta(hours=13), enabled=on),
        entry(post(5), 5, MIDNIGHT + timedelta(hours=14), enabled=on),
        entry(
            UserJoined(participant=ALICE_VIEW, turn_mode="free"),
            6,
            MIDNIGHT + timedelta(hours=15),
            enabled=on,
        ),
        entry(post(7), 7, MIDNIGHT + timedelta(days=1, minutes=1), enabled=on),
    ]
    # When the day is folded for sentiment and for welcome (never enabled)
    counted, other = tally(SENTIMENT), tally(WELCOME)
    counted.add(log)
    other.add(log)
    # Then sentiment was handed its activation and the two posts after it; welcome nothing
    assert counted.events == 3
    assert (other.events, sum(other.writes.values())) == (0, 0)
    assert (counted.read, counted.last_sequence) == (7, 7)


def test_its_writes_are_what_the_log_records_on_its_behalf_not_a_members_action_on_it() -> None:
    at = MIDNIGHT + timedelta(hours=10)
    on = ("welcome",)
    log = [
        entry(
            ExtensionInstalled(extension_id="welcome", extension_version="1", enabled=True, config={}),
            1,
            at,
            enabled=on,
        ),
        entry(post(2, sender="ext:welcome", kind="extension"), 2, at, enabled=on, actor=GATEWAY),
        entry(post(3, sender="ext:sentiment", kind="extension"), 3, at, enabled=on, actor=GATEWAY),
        entry(
            ExtensionEventRejected(
                extension_id="welcome",
                rejected_event_type="ExtensionMessageRequested",
                rejected_event_id="e1",
                reason="rate",
            ),
            4,
            at,
            enabled=on,
            actor=GATEWAY,
        ),
        entry(post(5), 5, at, enabled=on),
    ]
    counted = tally(WELCOME)
    counted.add(log)
    assert dict(counted.writes) == {"MessageStored": 1, "ExtensionEventRejected": 1}
    assert counted.events == 1  # its install; welcome subscribes to no post


class Log:
    """Chats' logs in sequence order (``CHAT``'s is ``details``), with every read's ``after`` and
    ``limit`` recorded; ``active`` is the active-day index of DAY."""

    def __init__(
        self, details: list[dict[str, Any]], others: dict[str, list[dict[str, Any]]] | None = None
    ) -> None:
        self.logs = {CHAT: details, **(others or {})}
        self.details = details
        self.reads: list[tuple[int | None, int]] = []

    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        self.reads.append((after, limit))
        newer = [d for d in self.logs[chat_id] if d["metadata"]["sequence"] > (after or 0)]
        return newer[:limit], len(newer) > limit

    def load(self, chat_id: str) -> LoadedChat | None:
        if chat_id not in self.logs:
            return None
        chat = Chat(
            chat_id=chat_id,
            title="t",
            turn_mode="free",
            settings=ChatSettings(),
            created_by="user-alice",
            created_at=MIDNIGHT - timedelta(days=30),
            last_event_sequence=len(self.logs[chat_id]),
        )
        return LoadedChat(chat=chat, version=1)

    def active_chats(self, day: str) -> dict[str, int]:
        return dict.fromkeys(self.logs, 1) if day == DAY.isoformat() else {}


def busy_log(days: int, per_day: int) -> Log:
    """``per_day`` posts a day for ``days`` days ending with DAY, sentiment enabled throughout."""
    first = MIDNIGHT - timedelta(days=days - 1)
    step = timedelta(days=1) / per_day
    return Log(
        [entry(post(n + 1), n + 1, first + n * step, enabled=("sentiment",)) for n in range(days * per_day)]
    )


def service(log: Log, now: datetime, caches: dict[tuple[str, str], InMemoryStore]) -> ChatUsageService:
    def cache(extension_id: str, partition: str) -> InMemoryStore:
        return caches.setdefault((extension_id, partition), InMemoryStore())

    registry = {"sentiment": SENTIMENT, "welcome": WELCOME}
    return ChatUsageService(lambda: registry, log, cache, clock=lambda: now)


def test_the_day_is_found_by_bisection_and_read_in_pages_of_the_day_only() -> None:
    # Given a chat with 200 posts a day for 30 days, sentiment enabled
    log = busy_log(30, 200)
    # When an operator asks for the last day, once it is over
    usage = service(log, MIDNIGHT + timedelta(days=2), {}).chat_daily("sentiment", CHAT, DAY)
    # Then the day's 200 posts, a handful of single-entry probes and one page of the day
    assert (usage.events, usage.invocations, usage.writes, usage.truncated, usage.final) == (
        200,
        200,
        0,
        False,
        True,
    )
    assert usage.estimated_usd == pytest.approx(200 * USAGE_USD["ExtensionInvocations"], abs=1e-6)
    probes = [r for r in log.reads if r[1] == 1]
    assert len(probes) <= 13  # log2(6,000) rounded up
    assert len(log.reads) - len(probes) == 1


def test_a_finished_day_is_cached_and_today_is_not() -> None:
    log = busy_log(2, 10)
    caches: dict[tuple[str, str], InMemoryStore] = {}
    today = service(log, MIDNIGHT + timedelta(hours=23), caches).chat_daily("sentiment", CHAT, None)
    assert (today.day, today.final, today.events) == (DAY, False, 10)
    read = len(log.reads)
    later = service(log, MIDNIGHT + timedelta(days=1, minutes=6), caches)
    assert later.chat_daily("sentiment", CHAT, DAY).final
    read_again = len(log.reads)
    assert read_again > read
    assert later.chat_daily("sentiment", CHAT, DAY).events == 10
    assert len(log.reads) == read_again  # the cached answer: no log read


def test_a_day_longer_than_the_cap_is_answered_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_usage, "MAX_LOG_ENTRIES", 50)
    monkeypatch.setattr(chat_usage, "LOG_PAGE", 20)
    log = busy_log(1, 80)
    usage = service(log, MIDNIGHT + timedelta(days=2), {}).chat_daily("sentiment", CHAT, DAY)
    assert (usage.events, usage.truncated, usage.last_sequence) == (50, True, 50)
    assert [limit for _, limit in log.reads if limit > 1] == [20, 20, 10]


def test_unknown_extensions_and_chats_are_not_found() -> None:
    usage = service(busy_log(1, 1), MIDNIGHT, {})
    with pytest.raises(ExtensionNotFoundError):
        usage.chat_daily("nobody", CHAT, DAY)
    with pytest.raises(ChatNotFoundError):
        usage.chat_daily("sentiment", "6f0c1a2e-8d7b-4e3a-9c61-2b4d6e8f0a13", DAY)


def test_a_day_after_the_last_entry_reads_only_past_the_log() -> None:
    log = busy_log(3, 5)
    usage = service(log, MIDNIGHT, {}).chat_daily("sentiment", CHAT, DAY + timedelta(days=3))
    assert (usage.events, usage.last_sequence) == (0, 0)
    assert [after for after, limit in log.reads if limit > 1] == [15]


def test_the_documents_state_the_caps_the_service_applies() -> None:
    document = json.loads(openapi_json())
    route = document["paths"]["/extensions/{extension_id}/usage/chats/{chat_id}"]["get"]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    cap = f"{chat_usage.MAX_LOG_ENTRIES:,}"
    assert f"at most {cap} log entries" in route["description"]
    assert f"pages of {chat_usage.LOG_PAGE}, at most {cap} entries" in " ".join(readme.split())
    assert f"{chat_usage.DAY_SKEW.seconds // 60} minutes" in " ".join(readme.split())
    assert set(route["responses"]) == {"200", "401", "403", "404", "422", "429", "503"}


def chat_with(chat_id: str, posts: int, *, enabled: tuple[str, ...]) -> list[dict[str, Any]]:
    at = MIDNIGHT + timedelta(hours=8)
    return [
        {**d, "metadata": {**d["metadata"], "chat_id": chat_id}}
        for d in (entry(post(n), n, at + timedelta(minutes=n), enabled=enabled) for n in range(1, posts + 1))
    ]


def test_the_days_costliest_chats_first_and_none_that_it_never_touched() -> None:
    # Given three active chats: sentiment enabled in two (3 and 7 posts), not in the third (9 posts)
    others = {
        "c-busy": chat_with("c-busy", 7, enabled=("sentiment",)),
        "c-quiet": chat_with("c-quiet", 9, enabled=()),
    }
    log = Log(chat_with(CHAT, 3, enabled=("sentiment",)), others)
    caches: dict[tuple[str, str], InMemoryStore] = {}
    usage = service(log, MIDNIGHT + timedelta(days=1, hours=1), caches)

    # When an operator lists the day's costliest chats of sentiment, two of them
    top = usage.top_chats("sentiment", DAY, limit=2)

    # Then the busier chat first, the chat that never enabled it left out, and every chat folded
    assert [(u.chat_id, u.events) for u in top.items] == [("c-busy", 7), (CHAT, 3)]
    assert (top.active_chats, top.folded, top.truncated) == (3, 3, False)
    # and each finished day's fold was cached: a second list reads no log
    reads = len(log.reads)
    assert usage.top_chats("sentiment", DAY, limit=1).items[0].chat_id == "c-busy"
    assert len(log.reads) == reads


def test_the_list_folds_a_bounded_number_of_chats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_usage, "MAX_CHATS", 2)
    others = {f"c-{n}": chat_with(f"c-{n}", 1, enabled=("sentiment",)) for n in range(4)}
    log = Log(chat_with(CHAT, 1, enabled=("sentiment",)), others)
    top = service(log, MIDNIGHT, {}).top_chats("sentiment", DAY, limit=10)
    assert (top.active_chats, top.folded, top.truncated, len(top.items)) == (5, 2, True, 2)
    with pytest.raises(ExtensionNotFoundError):
        service(log, MIDNIGHT, {}).top_chats("nobody", DAY, limit=10)


def test_the_list_reads_less_of_each_chat_and_keeps_no_short_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a finished day of 30 posts in a chat, and a list that reads 10 entries of each chat
    monkeypatch.setattr(chat_usage, "LIST_LOG_ENTRIES", 10)
    log = Log(chat_with(CHAT, 30, enabled=("sentiment",)))
    usage = service(log, MIDNIGHT + timedelta(days=2), {})

    # When the list is asked for, then the chat by id
    [listed] = usage.top_chats("sentiment", DAY, limit=5).items
    alone = usage.chat_daily("sentiment", CHAT, DAY)

    # Then the list's fold is short and says so, and was not kept for the chat's own answer
    assert (listed.events, listed.truncated) == (10, True)
    assert (alone.events, alone.truncated) == (30, False)


def test_its_hooks_rulings_are_calls_and_writes_even_stored_with_a_members_post() -> None:
    # Given a post ruled on by moderation's hook (live), by its shadow config, and by a turn policy,
    # and another extension's ruling
    at = MIDNIGHT + timedelta(hours=10)
    ruled = MessageModerated(
        message_id="m1", sender_id="user-alice", extension_id="moderation", action="allow", elapsed_ms=3
    )
    others = ruled.model_copy(update={"extension_id": "other"})
    shadow = ExtensionShadowOutput(extension_id="moderation", output_type="MessageModerated", output={})
    bot = ExtensionShadowOutput(extension_id="moderation", output_type="ExtensionMessageRequested", output={})
    turn = TurnValidationRequested(
        message_id="m1", sender_id="user-alice", turn_number=1, extension_id="moderation", allowed=True
    )
    log = [
        entry(data, n, at, enabled=("moderation",))
        for n, data in enumerate((ruled, others, shadow, turn, post(5)), 1)
    ]
    log.append(entry(bot, 6, at, enabled=("moderation",), actor=GATEWAY))
    moderation = DayTally(
        "moderation", {"detail-type": ["ExtensionInstalled"]}, MIDNIGHT, MIDNIGHT + timedelta(days=1)
    )

    # When the day is folded for moderation
    moderation.add(log)

    # Then three hook calls (recorded with Alice's post, as she acted), each a write, and the shadow
    # bot message its write too
    assert moderation.hook_calls == 3
    assert dict(moderation.writes) == {
        "MessageModerated": 1,
        "ExtensionShadowOutput": 2,
        "TurnValidationRequested": 1,
    }


def test_a_cached_row_of_another_shape_is_folded_again() -> None:
    log = busy_log(1, 4)
    caches: dict[tuple[str, str], InMemoryStore] = {}
    usage = service(log, MIDNIGHT + timedelta(days=2), caches)
    caches[("sentiment", f"_usage#{DAY.isoformat()}")] = stale = InMemoryStore()
    stale.put(CHAT, {"events": "many"})
    assert usage.chat_daily("sentiment", CHAT, DAY).events == 4


def test_a_hook_call_is_priced_as_one_lambda_request() -> None:
    prices = load_prices()["aws"]
    assert pytest.approx(prices["lambda_request"]["usd"] / prices["lambda_request"]["per"]) == HOOK_CALL_USD
