"""The operators' summary folds messages from the logs of the chats active on each day
(``parley.services.analytics``): exact across midnight, for a chat disabled mid-day, whatever the
log's read order, and a finished day is folded once."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from parley.adapters.memory import InMemoryStore
from parley.catalog import SYSTEM, MessageStored, MessageView, SenderKind, new_event
from parley.extensions.builtin import _analytics_model as model
from parley.services.analytics import AnalyticsService
from parley.services.chats import ChatService
from tests.unit.analytics_log import Log

LATE = "0d2f6a3c-1b7e-4c59-8a40-6e3b9d2c7f11"  # talks across midnight
EARLY = "7a4c2e9b-3d61-4f08-b5a7-1c8e0f6d2b93"  # analytics turned off at noon
DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)
MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)


def stored(
    chat_id: str, sequence: int, at: datetime, sender: str, *, kind: SenderKind = "human", live: bool = True
) -> dict[str, Any]:
    view = MessageView(
        message_id=f"{chat_id}-{sequence}",
        chat_id=chat_id,
        sequence=sequence,
        sender_id=sender,
        sender_name=sender.title(),
        sender_kind=kind,
        text="hello",
        created_at=at,
    )
    data = MessageStored(message=view, turn_mode="free", turn_number=0)
    extensions = ("analytics",) if live else ()
    envelope = new_event(data, chat_id=chat_id, actor=SYSTEM, occurred_at=at, extensions=extensions)
    return envelope.with_sequence(sequence).to_detail()


def history() -> list[dict[str, Any]]:
    minute = timedelta(minutes=1)
    return [
        stored(LATE, 1, MIDNIGHT - 2 * minute, "alice"),
        stored(LATE, 2, MIDNIGHT - minute, "oracle", kind="ai"),
        stored(LATE, 3, MIDNIGHT + minute, "bob"),
        # a slow clock: stamped before midnight, stored after the next day's first message
        stored(LATE, 4, MIDNIGHT - minute / 2, "bob"),
        stored(LATE, 5, MIDNIGHT + 2 * minute, "bot", kind="extension"),
        stored(EARLY, 1, MIDNIGHT + 9 * 60 * minute, "carol"),
        stored(EARLY, 2, MIDNIGHT + 11 * 60 * minute, "dave"),
        stored(EARLY, 3, MIDNIGHT + 13 * 60 * minute, "dave", live=False),  # after analytics was off
    ]


Stores = dict[str, InMemoryStore]


def summary(log: Log, stores: Stores, now: datetime) -> dict[str, Any]:
    def state(extension_id: str, partition: str) -> InMemoryStore:
        return stores.setdefault(f"{extension_id}#{partition}", InMemoryStore())

    service = AnalyticsService(cast(ChatService, None), state, log, clock=lambda: now)
    return service.summary(DAY1, DAY2).model_dump(mode="json")


def day(document: dict[str, Any], when: date) -> tuple[int, int, int, int]:
    found = next(d for d in document["trend"] if d["date"] == when.isoformat())
    return found["chats_active"], found["messages"], found["ai_replies"], found["active_participants"]


def test_each_day_counts_what_analytics_was_entitled_to_whatever_the_read_order() -> None:
    # Given two chats' logs, read in any order and with entries twice (a page read again)
    details = history()
    messy = [*details, *random.Random(7).sample(details, 4)]
    random.Random(3).shuffle(messy)

    # When an operator asks the day after
    document = summary(Log(messy), {}, MIDNIGHT + timedelta(days=1))

    # Then day 1 holds the late chat's three messages before midnight (the slow clock's too),
    # day 2 the late chat's two and the early chat's two counted ones, not the one said while off
    assert day(document, DAY1) == (1, 3, 1, 3)
    assert day(document, DAY2) == (2, 4, 0, 3)  # the extension's message counts, its sender does not
    totals = document["totals"]
    assert (totals["messages"], totals["ai_replies"], totals["chats_active"]) == (7, 1, 2)
    assert totals["active_participants"] == 5  # members who posted, once per chat


def test_a_finished_day_is_folded_once_and_today_every_time() -> None:
    # Given a summary read during day 2
    log, stores = Log(history()), cast(Stores, {})
    noon = MIDNIGHT + timedelta(hours=12)
    first = summary(log, stores, noon)

    # When it is read again
    log.reads.clear()
    again = summary(log, stores, noon)

    # Then day 1 (final) came from its cache, and only day 2's chats were read from their logs
    assert {**again, "period": None} == {**first, "period": None}
    assert len(log.reads) == 2  # one read per chat active on day 2
    cached = {k for k, store in stores.items() if "#log#" in k and store.items_under("")}
    assert cached == {f"analytics#{model.logged_partition(DAY1.isoformat(), LATE)}"}  # day 1's fold


def test_the_fold_replaces_what_was_tallied_per_message_before() -> None:
    # Given day 1's messages of the late chat tallied per event too (before the change was deployed)
    stores: Stores = {}
    store = stores.setdefault(f"analytics#{model.rollup_partition(DAY1.isoformat(), LATE)}", InMemoryStore())
    for sequence in ("1", "2"):
        store.tally(model.tally_row(LATE, sequence), sequence, {"m": 1}, {"p": ["x"]})

    # When the summary folds the log
    document = summary(Log(history()), stores, MIDNIGHT + timedelta(days=1))

    # Then nothing is counted twice
    assert day(document, DAY1) == (1, 3, 1, 3)


def test_an_enabling_after_a_finished_day_folds_it_again_with_its_backfill() -> None:
    # Given the early chat's day folded and cached while its last message was not counted
    log, stores = Log(history()), cast(Stores, {})
    later = MIDNIGHT + timedelta(days=3)
    assert day(summary(log, stores, later), DAY2) == (2, 4, 0, 3)

    # When analytics is enabled on it again with a backfill through sequence 3 (the handler's row)
    rows = stores.setdefault(f"analytics#{model.BACKFILL_PARTITION}", InMemoryStore())
    rows.tally(EARLY, "3", {}, {"a": ["3"]})
    log.reads.clear()
    document = summary(log, stores, later)

    # Then that day is folded again for that chat alone, and counts the message the backfill covers
    assert day(document, DAY2) == (2, 5, 0, 3)
    assert len(log.reads) == 1
