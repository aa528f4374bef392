"""The inbox read model on moto: GET /chats counts unread and shows the latest message from a
projection fed by MessageStored; POST /chats/{id}/read moves a marker forward only and tells the
caller's own sockets; the projection is idempotent, order-tolerant and rebuilt from the logs."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from parley import root
from parley.adapters.chat_line import encode_line
from parley.adapters.inbox import InboxStore
from parley.adapters.memory import InMemoryPusher
from parley.adapters.tables import ChatRecord, EventRecord, InboxRecord
from parley.catalog import parse_detail
from parley.ops.inbox import rebuild_inbox
from parley.services.inbox import InboxService
from parley.services.unit_of_work import Identity
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered
from tests.support.interactive import act, chat_with, lunch_bot, post_the_poll


def _inbox(api: Api, user: User, **query: Any) -> dict[str, Any]:
    response = api.get("/chats", user, query=query)
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json
    return body


def _entry(api: Api, user: User, chat_id: str) -> dict[str, Any]:
    return next(c for c in _inbox(api, user, limit=200)["items"] if c["chat_id"] == chat_id)


@pytest.fixture
def chat(api: Api, bus: Bus, alice: User, bob: User) -> str:
    chat_id: str = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    for text in ("one", "two", "x" * 300):
        assert api.send(alice, chat_id, text).status == 201
    bus.pump()
    return chat_id


def test_get_chats_counts_unread_after_the_marker_and_shows_the_latest_message(
    api: Api, chat: str, alice: User, bob: User
) -> None:
    # Given three messages from Alice, relayed (the relay keeps the inbox)
    # When each lists their chats
    bobs, alices = _entry(api, bob, chat), _entry(api, alice, chat)
    # Then Bob has three unread and sees the latest message's preview; Alice has read what she posted
    assert (bobs["unread"], bobs["last_read_sequence"]) == (3, 0)
    last = bobs["last_message"]
    assert (last["sender_id"], last["sequence"], last["truncated"]) == ("user-alice", 3, True)
    assert last["text"] == "x" * 140
    assert (alices["unread"], alices["last_read_sequence"]) == (0, 3)
    # And the chat's own fields are still there
    assert bobs["title"] == "Test chat"
    assert bobs["last_sequence"] == 3


def test_the_marker_moves_forward_only_and_stops_at_the_last_message(api: Api, chat: str, bob: User) -> None:
    def read(sequence: int) -> dict[str, Any]:
        response = api.post(f"/chats/{chat}/read", bob, body={"sequence": sequence})
        assert response.status == 200, response.text
        body: dict[str, Any] = response.json
        return body

    assert read(2) == {"chat_id": chat, "last_read_sequence": 2, "unread": 1, "moved": True}
    assert read(1) == {"chat_id": chat, "last_read_sequence": 2, "unread": 1, "moved": False}
    assert read(99) == {"chat_id": chat, "last_read_sequence": 3, "unread": 0, "moved": True}
    assert _entry(api, bob, chat)["unread"] == 0


def test_outsiders_cannot_move_a_marker(api: Api, chat: str, carol: User) -> None:
    response = api.post(f"/chats/{chat}/read", carol, body={"sequence": 1})
    assert response.status == 404
    assert response.json["error"]["code"] == "chat_not_found"


def test_duplicates_and_late_deliveries_change_nothing(api: Api, chat: str, alice: User, bob: User) -> None:
    # Given the inbox as the relay left it
    before = (_entry(api, alice, chat), _entry(api, bob, chat))
    # When every MessageStored of the log is delivered again, newest first, twice
    log = [parse_detail(json.loads(r.detail_json())) for r in EventRecord.query(chat)]
    stored = [e for e in log if e.event_type == "MessageStored"]
    for envelope in [*reversed(stored), *reversed(stored)]:
        assert root.inbox_projection().project([envelope]) == set()
    # Then nothing moved
    assert (_entry(api, alice, chat), _entry(api, bob, chat)) == before


def test_the_inbox_is_rebuilt_from_the_logs(api: Api, chat: str, alice: User, bob: User) -> None:
    # Given the inbox with a whisper from Alice to Bob after the three posts, then its table lost whole
    assert api.send(alice, chat, "psst", to=[bob.user_id]).status == 201
    root.inbox_projection().project([e for e in root.rebuild_service().log(chat) if e.metadata.sequence])
    before = (_entry(api, alice, chat), _entry(api, bob, chat))
    assert (before[1]["unread"], before[1]["last_message"]["text"]) == (4, "psst")
    for record in list(InboxRecord.scan()):
        record.delete()
    # Then the chat head still gives the latest public message and what Alice posted (her whisper
    # included); the whisper's own row is gone
    bobs, alices = _entry(api, bob, chat), _entry(api, alice, chat)
    assert (bobs["last_message"]["sequence"], bobs["unread"]) == (3, 3)
    assert (alices["last_message"]["sequence"], alices["last_read_sequence"], alices["unread"]) == (3, 4, 0)
    # When it is rebuilt from every chat's log by the operators' command
    out = io.StringIO()
    assert rebuild_inbox([], out=out) == 0
    assert "inbox rebuilt from the logs of" in out.getvalue()
    # Then it is what it was, and rebuilding one chat again changes nothing
    assert (_entry(api, alice, chat), _entry(api, bob, chat)) == before
    assert rebuild_inbox([chat], out=out) == 0
    assert f"{chat}: latest message 3, 1 poster marker(s), 1 whisper(s)" in out.getvalue()
    assert (_entry(api, alice, chat), _entry(api, bob, chat)) == before


def test_a_head_without_a_preview_reads_the_rows_the_relay_used_to_write(
    api: Api, chat: str, alice: User, bob: User
) -> None:
    # Given a chat as it was before heads carried the chat list's line: the rows written (here by
    # the rebuild command, as the relay did), the head without its line
    before = (_entry(api, alice, chat), _entry(api, bob, chat))
    assert rebuild_inbox([chat], out=io.StringIO()) == 0
    ChatRecord.get(chat).update(actions=[ChatRecord.inbox.remove()])
    assert ChatRecord.get(chat).inbox is None
    # Then the chat list reads the rows and shows the same (no backfill job)
    assert (_entry(api, alice, chat), _entry(api, bob, chat)) == before
    # When Bob posts, the head carries the line again and the rows are no longer read
    assert api.send(bob, chat, "back").status == 201
    for record in list(InboxRecord.scan()):
        record.delete()
    alices, bobs = _entry(api, alice, chat), _entry(api, bob, chat)
    assert (alices["unread"], alices["last_message"]["text"]) == (4, "back")
    # (Alice's marker from her posts before the line was a row, deleted here: `make rebuild-inbox`
    # brings it back; Bob's post is in the line)
    assert (alices["last_read_sequence"], bobs["last_read_sequence"], bobs["unread"]) == (0, 4, 0)


def test_a_preview_whose_text_the_head_left_out_is_read_from_the_message(
    api: Api, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given the head's line without its preview's text, as a post writes it when that text alone
    # would cost the post one more write unit (tests/unit/test_chat_item_budget.py: a bot's long name)
    before = _entry(api, bob, chat)
    loaded = root.chat_repository().load(chat)
    assert loaded is not None
    assert loaded.line is not None
    assert not loaded.line.spilled
    spilled = encode_line(loaded.line, loaded.chat.participants, text=False)
    assert spilled is not None
    ChatRecord.get(chat).update(actions=[ChatRecord.inbox.set(spilled)])
    reloaded = root.chat_repository().load(chat)
    assert reloaded is not None
    assert reloaded.line is not None
    assert reloaded.line.spilled
    # Then the chat list shows the same preview, its text read from the message
    assert _entry(api, bob, chat) == before
    assert before["last_message"]["text"] == "x" * 140
    # And a commit with no public message (Carol joins) keeps the text left out, not blanked
    assert api.post(f"/chats/{chat}/members", carol).status == 200
    assert _entry(api, bob, chat)["last_message"]["text"] == "x" * 140


def test_an_update_of_an_older_message_never_takes_a_head_without_a_preview(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        for text in ("a1", "a2", "a3"):
            assert api.send(alice, chat_id, text).status == 201
        bus.pump()
        # Given a chat as it was before heads carried the line: the relay's rows, no line on the head
        assert rebuild_inbox([chat_id], out=io.StringIO()) == 0
        ChatRecord.get(chat_id).update(actions=[ChatRecord.inbox.remove()])
        before = _entry(api, bob, chat_id)
        assert before["last_message"]["text"] == "a3"
        # When Bob votes on the older poll and the bot updates it
        assert act(api, bob, chat_id, poll["message_id"], "vote", "v-1", option="sushi").status == 202
        assert deliver(bot, bus.emitted(), **{"detail-type": "InteractionSubmitted"}) == [True]
        bus.pump()
        # Then the chat list still shows the latest message and the same count
        after = _entry(api, bob, chat_id)
        assert (after["last_message"]["text"], after["unread"]) == ("a3", before["unread"])


def test_a_member_who_leaves_and_rejoins_has_still_read_their_own_posts(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    for text in ("b1", "b2", "b3"):
        assert api.send(bob, chat_id, text).status == 201
    assert api.send(alice, chat_id, "a1").status == 201
    bus.pump()
    before = _entry(api, bob, chat_id)
    assert (before["unread"], before["last_read_sequence"]) == (1, 3)
    # the head's line forgets a leaver; their latest post moves their own marker as they leave
    assert api.delete(f"/chats/{chat_id}/members/me", bob).status == 204
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    after = _entry(api, bob, chat_id)
    assert (after["unread"], after["last_read_sequence"]) == (1, 3)


def test_get_chats_pages_with_limit_and_cursor(api: Api, bus: Bus, alice: User) -> None:
    created = sorted(api.create_chat(alice, title=f"c{i}")["chat_id"] for i in range(3))
    first = _inbox(api, alice, limit=2)
    assert [c["chat_id"] for c in first["items"]] == created[:2]
    assert first["next"] == created[1]
    second = _inbox(api, alice, limit=2, cursor=first["next"])
    assert [c["chat_id"] for c in second["items"]] == created[2:]
    assert second["next"] is None


def test_read_marker_moved_goes_to_the_callers_own_sockets_only(
    api: Api, chat: str, alice: User, bob: User
) -> None:
    # Given Bob on two sockets and Alice on one, all subscribed to the chat
    connections, pusher, now = root.connections(), InMemoryPusher(), datetime.now(UTC)
    for connection_id, user in (("bob-1", bob), ("bob-2", bob), ("alice-1", alice)):
        connections.add_connection(connection_id, user_id=user.user_id, name=user.name, now=now)
        connections.subscribe(connection_id, chat, user_id=user.user_id, now=now)
    pusher.gone.add("bob-2")
    service = InboxService(InboxStore(), root.chat_repository(), connections, lambda: pusher)
    # When Bob marks the chat read
    service.mark_read(Identity(bob.user_id, bob.name), chat, 3)
    # Then his live socket gets ReadMarkerMoved, his gone one is dropped, Alice's gets nothing
    frame = json.loads(pusher.frames["bob-1"][0])
    assert frame["type"] == "ReadMarkerMoved"
    assert frame["data"] == {"user_id": "user-bob", "last_read_sequence": 3, "unread": 0}
    assert "alice-1" not in pusher.frames
    assert {s.connection_id for s in connections.subscribers(chat, now=now)} == {"bob-1", "alice-1"}
    # And a call that moves nothing pushes nothing
    service.mark_read(Identity(bob.user_id, bob.name), chat, 2)
    assert len(pusher.frames["bob-1"]) == 1


def test_the_preview_follows_an_update_of_the_latest_message_only(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        # Given a chat whose latest message is the lunch bot's poll
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        assert _entry(api, bob, chat_id)["last_message"]["text"] == "Lunch? Pizza or Sushi"

        # When Bob votes and the bot updates its poll's text
        assert act(api, bob, chat_id, poll["message_id"], "vote", "v-1", option="sushi").status == 202
        assert deliver(bot, bus.emitted(), **{"detail-type": "InteractionSubmitted"}) == [True]
        bus.pump()

        # Then the chat list shows the new text, at the poll's place, and nothing is unread anew
        last = _entry(api, bob, chat_id)["last_message"]
        assert (last["message_id"], last["sequence"]) == (poll["message_id"], poll["sequence"])
        assert last["text"] == f"{bob.user_id} picked sushi"
        updated = _entry(api, bob, chat_id)

        # When the poll and its update are delivered again, the update first
        log = [parse_detail(json.loads(r.detail_json())) for r in EventRecord.query(chat_id)]
        for envelope in [e for e in log if e.event_type in ("MessageUpdated", "MessageStored")][::-1]:
            assert root.inbox_projection().project([envelope]) == set()
        # Then the older version never comes back, and a rebuild from the log agrees
        assert _entry(api, bob, chat_id) == updated
        assert rebuild_inbox([chat_id], out=io.StringIO()) == 0
        assert _entry(api, bob, chat_id) == updated

        # When Alice posts after the poll, and then Alice votes (an update of an older message)
        assert api.send(alice, chat_id, "after the poll").status == 201
        bus.pump()
        assert act(api, alice, chat_id, poll["message_id"], "vote", "v-2", option="pizza").status == 202
        assert deliver(bot, bus.emitted(), **{"detail-type": "InteractionSubmitted"}) == [False, True]
        bus.pump()
    # Then the chat list keeps Alice's later message
    assert _entry(api, bob, chat_id)["last_message"]["text"] == "after the poll"
