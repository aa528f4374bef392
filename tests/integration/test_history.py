"""One row per post (issue 15, A4): a message is its MessageStored event-log row. History (GET
messages, the AI's context, replays) reads the log through anchors, and still reads the message rows
written before the change (dual read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from parley.adapters.dynamodb import ChatRepository, client_message_key
from parley.adapters.history import ANCHOR_EVERY, anchor_key
from parley.adapters.tables import EventRecord, IdempotencyRecord, MessageRecord
from parley.catalog import MessageView
from parley.settings import settings
from tests.support.api import Api, User

ALICE = User("user-alice", "Alice")
BOB = User("user-bob", "Bob")
CAROL = User("user-carol", "Carol")


def _chat(api: Api) -> str:
    chat_id: str = api.create_chat(ALICE, settings={"rate_limit_messages": 500})["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", BOB).status == 200
    return chat_id


def _post(api: Api, chat_id: str, count: int, start: int = 1) -> None:
    """``count`` posts, with other events between them (Carol joins and leaves) and whispers."""
    for n in range(start, start + count):
        if n % 7 == 0:
            assert api.post(f"/chats/{chat_id}/members", CAROL).status == 200
            assert api.delete(f"/chats/{chat_id}/members/me", CAROL).status in {200, 204}
        sender, other = (ALICE, BOB) if n % 2 else (BOB, ALICE)
        body: dict[str, Any] = {"to": [other.user_id]} if n % 5 == 0 else {}
        assert api.send(sender, chat_id, f"message {n}", **body).status == 201


def _logged(chat_id: str) -> dict[int, MessageView]:
    """Every message as its MessageStored row holds it."""
    found = {}
    for record in EventRecord.query(chat_id, consistent_read=True):
        detail = json.loads(record.detail_json())
        if record.event_type == "MessageStored":
            message = MessageView.model_validate(detail["data"]["message"])
            found[message.sequence] = message
    return found


WINDOWS = [
    (after, before, limit)
    for after in (0, 1, 30, 31, 32, 33, 34, 50, 63, 64, 65, 69, 70)
    for before in (None, after + 2, after + 40)
    for limit in (1, 5, 50)
]


def _expected(
    messages: dict[int, MessageView], after: int, before: int | None, limit: int
) -> tuple[list[MessageView], bool]:
    wanted = [m for s, m in sorted(messages.items()) if s > after and (before is None or s < before)]
    return wanted[:limit], len(wanted) > limit


@contextmanager
def scanned() -> Iterator[list[int]]:
    """The items each DynamoDB Query evaluated (``ScannedCount``), while the block runs."""
    counts: list[int] = []

    def count(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query":
            counts.append(int(parsed.get("ScannedCount", 0)))

    events = EventRecord._get_connection().connection.client.meta.events
    events.register("after-call.dynamodb.Query", count)
    try:
        yield counts
    finally:
        events.unregister("after-call.dynamodb.Query", count)


def test_a_post_writes_no_message_row_and_every_history_window_reads_the_log(api: Api) -> None:
    # Given 70 posts with joins, leaves and whispers between them
    chat_id = _chat(api)
    _post(api, chat_id, 70)
    repository = ChatRepository(settings().region)

    # Then no message row was written, and each block of 32 messages has its anchor
    assert list(MessageRecord.query(chat_id)) == []
    for sequence in (1, 1 + ANCHOR_EVERY, 1 + 2 * ANCHOR_EVERY):
        key = anchor_key(chat_id, sequence)
        assert key is not None
        assert IdempotencyRecord.get(key).data
    assert anchor_key(chat_id, 2) is None

    # And every window of history is exactly the log's messages, in order, with whether more follow
    logged = _logged(chat_id)
    assert sorted(logged) == list(range(1, 71))
    for after, before, limit in WINDOWS:
        got = repository.messages(chat_id, after=after, before=before, limit=limit)
        assert got == _expected(logged, after, before, limit), (after, before, limit)
    assert repository.message(chat_id, 45) == logged[45]
    assert repository.message(chat_id, 71) is None


def test_a_page_reads_at_most_a_block_it_does_not_return(api: Api) -> None:
    # Given 70 posts with other events between them
    chat_id = _chat(api)
    _post(api, chat_id, 70)
    repository = ChatRepository(settings().region)
    events_per_message = len(list(EventRecord.query(chat_id))) / 70

    # When a page in the middle (messages 35..39) and the web client's latest page are read
    with scanned() as middle:
        items, more = repository.messages(chat_id, after=34, before=None, limit=5)
    assert [m.sequence for m in items] == [35, 36, 37, 38, 39]
    assert more
    with scanned() as latest:
        items, more = repository.messages(chat_id, after=65, before=None, limit=5)
    assert [m.sequence for m in items] == [66, 67, 68, 69, 70]
    assert not more

    # Then each read the log only from the anchor of its block (message 33, message 65) on, about
    # as many rows as it passed: not the whole log, nor down from its end
    assert sum(middle) <= 2 * (39 - 33 + 2) * events_per_message
    assert sum(latest) <= 2 * (70 - 65 + 2) * events_per_message


def test_message_rows_written_before_the_change_are_still_read(api: Api) -> None:
    # Given a chat whose first 35 messages were stored the older way: a message row beside the log
    # row, and no anchors (their rows say "row" so the test sees which one a page read)
    chat_id = _chat(api)
    _post(api, chat_id, 40)
    for sequence in (1, 1 + ANCHOR_EVERY):
        IdempotencyRecord(anchor_key(chat_id, sequence)).delete()
    logged = _logged(chat_id)
    for sequence in range(1, 36):
        m = logged[sequence]
        MessageRecord(
            chat_id,
            sequence,
            message_id=m.message_id,
            sender_id=m.sender_id,
            sender_name=m.sender_name,
            sender_kind=m.sender_kind,
            text=f"row {m.text}",
            created_at=m.created_at.isoformat(),
            to=list(m.to) if m.to else None,
        ).save()
        logged[sequence] = m.model_copy(update={"text": f"row {m.text}"})
    # and 30 more posts since, on the new code (message 65 starts a block with an anchor)
    _post(api, chat_id, 30, start=41)
    logged.update({s: m for s, m in _logged(chat_id).items() if s > 40})
    repository = ChatRepository(settings().region)

    # Then every window reads the old rows where they are and the log for the rest
    for after, before, limit in WINDOWS:
        got = repository.messages(chat_id, after=after, before=before, limit=limit)
        assert got == _expected(logged, after, before, limit), (after, before, limit)
    # and so does GET /messages, from the start
    page = api.get(f"/chats/{chat_id}/messages", BOB, query={"limit": 100}).json
    assert [m["text"] for m in page["items"]][:2] == ["row message 1", "row message 2"]
    assert [m["sequence"] for m in page["items"]] == list(range(1, 71))


@pytest.mark.parametrize("claim", ["current", "older"])
def test_a_repeated_client_message_id_gets_the_message_back_from_the_log(api: Api, claim: str) -> None:
    # Given a post with a client_message_id (its claim in the older form: no event sequence)
    chat_id = _chat(api)
    _post(api, chat_id, 3)
    first = api.send(ALICE, chat_id, "only once", client_message_id="c-1")
    assert first.status == 201
    key = client_message_key(chat_id, ALICE.user_id, "c-1")
    stored = json.loads(IdempotencyRecord.get(key).data or "{}")
    assert stored["event_sequence"] > stored["sequence"] == 4
    if claim == "older":
        IdempotencyRecord(key, data=json.dumps({"sequence": 4, "message_id": stored["message_id"]})).save()

    # When it is sent again
    again = api.send(ALICE, chat_id, "only once", client_message_id="c-1")

    # Then the same message comes back and nothing more is stored
    assert again.json["message_id"] == first.json["message_id"]
    assert again.json["sequence"] == 4
    assert sorted(_logged(chat_id)) == [1, 2, 3, 4]
