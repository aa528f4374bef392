"""A ``subscribe`` replay is bounded (issue 13): at most MAX_REPLAY_EVENTS log rows, then the client
reads on over HTTP from ``replayed_through``."""

from __future__ import annotations

import json
from typing import Any, cast

from parley.adapters.memory import InMemoryPusher
from parley.catalog import Actor, MessageStored, MessageView, new_event
from parley.realtime.frames import MAX_REPLAY_EVENTS
from parley.realtime.service import REPLAY_PAGE, RealtimeService
from tests.unit.chats import OWNER, T0

CHAT = "chat-1"
ALICE = Actor(id=OWNER, kind="user", name="Alice")


class _Log:
    """The event log's ``events`` read, over ``total`` stored messages; counts the rows it returns."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.rows_read = 0

    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        first = (after or 0) + 1
        last = min(self.total, first + limit - 1)
        rows = [_detail(n) for n in range(first, last + 1)]
        self.rows_read += len(rows)
        return rows, last < self.total


def _detail(sequence: int) -> dict[str, Any]:
    message = MessageView(
        message_id=f"m{sequence}",
        chat_id=CHAT,
        sequence=sequence,
        sender_id=OWNER,
        sender_name="Alice",
        sender_kind="human",
        text="hi",
        created_at=T0,
    )
    data = MessageStored(message=message, turn_mode="free", turn_number=0)
    envelope = new_event(data, chat_id=CHAT, actor=ALICE).with_sequence(sequence)
    detail: dict[str, Any] = json.loads(envelope.to_json())
    return detail


def _service(log: _Log, pusher: InMemoryPusher) -> RealtimeService:
    unused: Any = None
    return RealtimeService(unused, cast(Any, log), unused, unused, pusher, websocket_url="wss://x")


def test_a_long_absence_replays_the_bound_then_stops() -> None:
    # Given a log of 2.5 times the bound after the client's last sequence
    log, pusher = _Log(MAX_REPLAY_EVENTS * 5 // 2), InMemoryPusher()

    # When it resumes from 0
    replay = _service(log, pusher)._replay("conn", CHAT, 0, viewer="user-alice", role="member")

    # Then exactly the bound was read and pushed, in pages, and the replay says where it stopped
    assert (replay.pushed, replay.through, replay.complete) == (MAX_REPLAY_EVENTS, MAX_REPLAY_EVENTS, False)
    assert log.rows_read == MAX_REPLAY_EVENTS
    sequences = [json.loads(f)["sequence"] for f in pusher.frames["conn"]]
    assert sequences == list(range(1, MAX_REPLAY_EVENTS + 1))
    assert REPLAY_PAGE < MAX_REPLAY_EVENTS


def test_a_short_absence_replays_everything_and_is_complete() -> None:
    log, pusher = _Log(MAX_REPLAY_EVENTS), InMemoryPusher()
    replay = _service(log, pusher)._replay("conn", CHAT, 10, viewer="user-alice", role="member")
    assert (replay.pushed, replay.through, replay.complete) == (
        MAX_REPLAY_EVENTS - 10,
        MAX_REPLAY_EVENTS,
        True,
    )


def test_nothing_to_replay_stays_where_the_client_was() -> None:
    log, pusher = _Log(5), InMemoryPusher()
    replay = _service(log, pusher)._replay("conn", CHAT, 5, viewer="user-alice", role="member")
    assert (replay.pushed, replay.through, replay.complete) == (0, 5, True)
