"""The inbox needs no bus route, queue or function of its own: a public post's preview and its poster's
marker ride the chat head its own transaction writes, and the relay, from the events table's stream,
writes only whispers' rows, after it publishes. A batch's whispers of one chat are folded to one write
each; a failed write hands the chat's first whisper back (nothing lost), and what comes back is
published once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from infra.local.functions import load_handler
from parley import root
from parley.adapters.inbox import InboxStore
from parley.adapters.tables import InboxRecord
from parley.errors import StoreError
from parley.topology import all_routes
from tests.support.api import Api, User
from tests.support.bus import Bus


def relay_once(bus: Bus) -> tuple[int, int]:
    """One relay invocation on what the stream holds: (rows done, rows handed back)."""
    relay = bus.streams()["relay"]
    relay.poll()
    outcome = relay.deliver(load_handler("relay"))
    return len(outcome.delivered), outcome.failed


def entry(api: Api, user: User, chat_id: str) -> dict[str, Any]:
    items = api.get("/chats", user, query={"limit": 200}).json["items"]
    found: dict[str, Any] = next(c for c in items if c["chat_id"] == chat_id)
    return found


def chat_with_bob(api: Api, alice: User, bob: User) -> str:
    chat_id: str = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    return chat_id


def spy(monkeypatch: pytest.MonkeyPatch, name: str, calls: list[tuple[Any, ...]]) -> None:
    real: Callable[..., Any] = getattr(InboxStore, name)

    def recorded(self: InboxStore, *args: Any, **kwargs: Any) -> Any:
        calls.append((name, *args))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(InboxStore, name, recorded)


def published_ids(bus: Bus) -> Counter[str]:
    return Counter(e["detail"]["metadata"]["event_id"] for e in bus.emitted(relay=False))


def test_the_inbox_has_no_route_and_a_public_post_needs_no_relay_for_it(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat whose past is relayed, and no route anywhere named for the inbox
    assert not [r for r in all_routes() if "inbox" in (r.name, r.function)]
    chat_id = chat_with_bob(api, alice, bob)
    bus.pump()
    calls: list[tuple[Any, ...]] = []
    for name in ("record_message", "move_marker", "record_private"):
        spy(monkeypatch, name, calls)
    # When Alice posts, before the relay runs
    assert api.send(alice, chat_id, "hello").status == 201
    # Then Bob's inbox already counts it, and Alice has read what she posted
    bobs, alices = entry(api, bob, chat_id), entry(api, alice, chat_id)
    assert (bobs["unread"], bobs["last_message"]["text"]) == (1, "hello")
    assert (alices["unread"], alices["last_read_sequence"]) == (0, 1)
    # And the relay writes the inbox table nothing for it
    assert relay_once(bus) == (1, 0)
    assert calls == []


def test_a_batch_of_one_chat_writes_each_whisper_once_and_nothing_for_public_posts(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat with five posts by two people, two of them whispers, still on the stream
    chat_id = chat_with_bob(api, alice, bob)
    bus.pump()
    posts = [
        (alice, "a1", None),
        (bob, "b1", [alice]),
        (alice, "a2", None),
        (bob, "b2", None),
        (alice, "a3", [bob]),
    ]
    for who, text, to in posts:
        sent = (
            api.send(who, chat_id, text, to=[u.user_id for u in to]) if to else api.send(who, chat_id, text)
        )
        assert sent.status == 201
    calls: list[tuple[Any, ...]] = []
    for name in ("record_message", "move_marker", "record_private"):
        spy(monkeypatch, name, calls)
    # When the relay takes them in one batch
    assert relay_once(bus) == (5, 0)
    # Then the inbox table got one write per whisper, none for the public posts or the markers
    assert sorted(c[:3] for c in calls) == [("record_private", chat_id, 2), ("record_private", chat_id, 5)]
    # And each sees the newest message they may, each marker where its poster last posted
    assert entry(api, bob, chat_id)["last_message"]["text"] == "a3"
    assert entry(api, alice, chat_id)["last_message"]["text"] == "a3"
    assert (entry(api, bob, chat_id)["unread"], entry(api, alice, chat_id)["unread"]) == (1, 0)


def test_rows_again_reversed_and_twice_change_nothing(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat's posts, relayed
    chat_id = chat_with_bob(api, alice, bob)
    for who, text in [(alice, "one"), (bob, "two"), (alice, "three")]:
        assert api.send(who, chat_id, text).status == 201
    bus.pump()
    before = (entry(api, alice, chat_id), entry(api, bob, chat_id))
    log = [e for e in root.rebuild_service().log(chat_id) if e.event_type == "MessageStored"]
    # When the projection gets them again: one by one, newest first, then as a reversed batch, twice
    for envelope in reversed(log):
        assert root.inbox_projection().project([envelope]) == set()
    for _ in range(2):
        assert root.inbox_projection().project(list(reversed(log))) == set()
    # Then nothing moved
    assert (entry(api, alice, chat_id), entry(api, bob, chat_id)) == before


def test_a_failed_inbox_write_hands_the_chat_back_and_never_holds_up_the_bus(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three chats whose past is relayed, then whispers to Bob in each, in this order, on the stream
    first, failing, last = (chat_with_bob(api, alice, bob) for _ in range(3))
    bus.pump()
    seen = published_ids(bus)
    for chat_id in (first, failing, last, failing):
        assert api.send(alice, chat_id, f"to {chat_id}", to=[bob.user_id]).status == 201
    # and the inbox's writes for one of them failing
    real = InboxStore.record_private

    def refuse(self: InboxStore, chat_id: str, sequence: int, message: str, *, version: int = 1) -> None:
        if chat_id == failing:
            raise StoreError("injected: the inbox table refused")
        real(self, chat_id, sequence, message, version=version)

    monkeypatch.setattr(InboxStore, "record_private", refuse)

    # When the relay takes the batch
    done, handed_back = relay_once(bus)

    # Then the whole batch reached the bus at once (turns, AI and extensions never wait on the inbox);
    # the failing chat's first row and every later one came back for the inbox
    assert (done, handed_back) == (1, 3)
    assert sum((published_ids(bus) - seen).values()) == 4
    assert entry(api, bob, first)["unread"] == 1
    assert entry(api, bob, failing)["last_message"] is None

    # When the inbox takes writes again and the stream hands the rows back
    monkeypatch.setattr(InboxStore, "record_private", real)
    bus.relay()

    # Then every chat's inbox is right; the rows handed back reached the bus again (consumers take
    # each event once by its event_id), the one before them once
    assert [entry(api, bob, c)["unread"] for c in (first, failing, last)] == [1, 2, 1]
    assert entry(api, bob, failing)["last_message"]["sequence"] == 2
    published = published_ids(bus) - seen
    assert sorted(published.values()) == [1, 2, 2, 2]


@pytest.mark.usefixtures("aws")
def test_a_refused_inbox_write_is_a_store_error_and_a_stale_one_is_no_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(code: str) -> Callable[..., Any]:
        def save(self: InboxRecord, **_: Any) -> Any:
            error = ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutItem")
            raise PutError("Failed to put item", cause=error)

        return save

    # a throttle that outlasted the SDK's retries is the projection's typed error, from the SDK's
    monkeypatch.setattr(InboxRecord, "save", refused("ProvisionedThroughputExceededException"))
    with pytest.raises(StoreError) as raised:
        InboxStore().record_message("c1", 3, "{}")
    assert isinstance(raised.value.__cause__, PutError)
    # a row already at or past the sequence is not an error: nothing to write
    monkeypatch.setattr(InboxRecord, "save", refused("ConditionalCheckFailedException"))
    assert InboxStore().move_marker("u1", "c1", 3) is False
