"""A chat's analytics report folded from its event log when read (``_analytics_model.log`` and
``parley.services.analytics``): exactly what analytics would have been handed, the same whenever it
is read and however much of it was cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.adapters.memory import InMemoryStore
from parley.catalog import (
    SYSTEM,
    EventData,
    ExtensionActivated,
    MessageStored,
    MessageView,
    new_event,
)
from parley.domain.model import Chat, ChatSettings, Install
from parley.extensions.builtin import _analytics_model as model
from parley.services.analytics import AnalyticsService
from parley.services.chats import ChatService
from parley.services.unit_of_work import Identity
from tests.unit.analytics_log import Log

CHAT_ID = "5f0c1a2e-8d7b-4e3a-9c61-2b4d6e8f0a13"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, tzinfo=UTC)
ALICE = Identity(user_id="alice", name="Alice")


def detail(
    data: EventData,
    sequence: int,
    *,
    live: bool = True,
    audience: Any = None,
) -> dict[str, Any]:
    envelope = new_event(
        data,
        chat_id=CHAT_ID,
        actor=SYSTEM,
        occurred_at=START + timedelta(minutes=sequence),
        extensions=("analytics",) if live else (),
    ).with_sequence(sequence, audience=audience)
    return envelope.to_detail()


def message(sequence: int, sender: str = "alice", to: tuple[str, ...] | None = None) -> MessageStored:
    view = MessageView(
        message_id=f"m{sequence}",
        chat_id=CHAT_ID,
        sequence=sequence,
        sender_id=sender,
        sender_name=sender.title(),
        sender_kind="human",
        text="x" * sequence,
        created_at=START,
        to=to,
    )
    return MessageStored(message=view, turn_mode="free", turn_number=0)


class Chats:
    def get_chat(self, who: Identity, chat_id: str) -> Chat:
        install = Install(
            extension_id="analytics", version="1.0.0", installed_by="parley", installed_at=START
        )
        return Chat(
            chat_id=chat_id,
            title="Plans",
            turn_mode="free",
            settings=ChatSettings(),
            created_by="alice",
            created_at=START,
            extensions={"analytics": install},
        )


def service(log: Log, store: InMemoryStore, now: datetime = NOW) -> AnalyticsService:
    return AnalyticsService(
        cast(ChatService, Chats()), lambda _extension, _chat: store, log, clock=lambda: now
    )


def report(log: Log, store: InMemoryStore, now: datetime = NOW) -> dict[str, Any]:
    return service(log, store, now).chat_report(ALICE, CHAT_ID).model_dump(mode="json")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    length=st.integers(min_value=1, max_value=180),
    first=st.integers(min_value=0, max_value=180),
    page=st.integers(min_value=1, max_value=60),
)
def test_a_report_read_while_the_log_grows_equals_one_read_of_the_whole_log(
    length: int, first: int, page: int
) -> None:
    # Given a chat's log, read once when only part of it was written (finished blocks get cached)
    log = Log([detail(message(n, "alice" if n % 3 else "bob"), n) for n in range(1, length + 1)])
    store = InMemoryStore()
    log.shown = min(first, length)
    report(log, store)
    cached = model.cached_prefix(store.items_under(model.FOLD_PREFIX))

    # When the rest is written and the report is read again, in pages of any size
    log.shown = length
    import parley.services.analytics as analytics_service

    original, analytics_service.LOG_PAGE = analytics_service.LOG_PAGE, page
    try:
        log.reads.clear()
        again = report(log, store)
    finally:
        analytics_service.LOG_PAGE = original

    # Then it says what one read of the whole log with nothing cached says,
    fresh = report(Log(log.details), InMemoryStore())
    assert {**again, "period": None} == {**fresh, "period": None}
    assert again["messages"]["count"] == length
    # the second read started after the blocks the first one had cached, and only finished ones are
    assert log.reads[0] == (len(cached) * model.BLOCK - 1 if cached else 0)
    assert all((block + 1) * model.BLOCK <= min(first, length) for block in cached)
    finished = model.cached_prefix(store.items_under(model.FOLD_PREFIX))
    assert len(finished) == (length // model.BLOCK if length >= model.BLOCK else 0)


def test_whispers_notices_and_what_was_said_while_off_do_not_count() -> None:
    log = Log(
        [
            detail(message(1), 1),
            detail(message(2, to=("bob",)), 2, audience=("alice", "bob")),  # a whisper
            detail(message(3), 3, audience="moderators"),  # moderators only
            detail(message(4), 4, live=False),  # analytics was off
            detail(message(6), 6),
        ]
    )
    counted = report(log, InMemoryStore())
    assert counted["messages"]["count"] == 2
    assert counted["messages"]["total_length"] == 1 + 6


def test_a_backfill_window_counts_the_past_it_covers() -> None:
    # Given messages said while analytics was not enabled, then its activation with a backfill
    log = Log(
        [
            *(detail(message(n), n, live=False) for n in range(1, 4)),
            detail(ExtensionActivated(extension_id="analytics", backfill_through=3), 4),
            detail(message(5), 5),
            detail(ExtensionActivated(extension_id="welcome", backfill_through=5), 6),
            detail(message(7), 7, live=False),  # turned off again
        ]
    )

    # Then the report counts what the backfill handed over and what came while it was on, only
    counted = report(log, InMemoryStore())
    assert counted["messages"]["count"] == 4
    assert counted["messages"]["total_length"] == 1 + 2 + 3 + 5


def test_a_finished_block_is_cached_once_and_events_older_than_the_retention_stop_counting() -> None:
    log = Log([detail(message(n), n) for n in range(1, model.BLOCK + 2)])
    store = InMemoryStore()

    assert report(log, store)["messages"]["count"] == model.BLOCK + 1
    assert set(store.items_under(model.FOLD_PREFIX)) == {model.fold_key(0)}
    assert report(log, store, now=START + timedelta(days=90, minutes=30))["messages"]["count"] == (
        model.BLOCK + 1 - 29
    )
