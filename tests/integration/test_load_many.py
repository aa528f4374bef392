"""GET /chats reads a page's chats in batches (heads, then the cold parts no cache holds), and reads
each exactly as ``load`` does: the same chat, version and chat-list line."""

from __future__ import annotations

import pytest

from parley.adapters.chat_items import cold_key
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.tables import ChatRecord
from parley.settings import settings
from tests.support.api import Api, User

ALICE = User("user-alice", "Alice")
BOB = User("user-bob", "Bob")


def test_a_page_of_chats_loads_in_batches_as_each_loads_alone(api: Api) -> None:
    # Given three chats, posted in, and a fourth id that is no chat
    chats = [api.create_chat(ALICE, title=f"c{n}")["chat_id"] for n in range(3)]
    for chat_id in chats:
        assert api.post(f"/chats/{chat_id}/members", BOB).status == 200
        assert api.send(BOB, chat_id, f"hi {chat_id}").status == 201
    ids = [chats[2], "no-such-chat", chats[0], chats[1]]
    # When another container (an empty cache) loads them together, then each alone
    together = ChatRepository(settings().region).load_many(ids)
    alone = [ChatRepository(settings().region).load(c) for c in (chats[2], chats[0], chats[1])]
    # Then it is the same, in the order asked, the missing one left out
    assert together == alone
    assert [loaded.line is not None and loaded.line.posted for loaded in together] == [{BOB.user_id: 1}] * 3


def test_a_cold_part_that_moved_on_meanwhile_is_read_again(api: Api) -> None:
    # Given a container that cached a chat's cold part, then a settings change in another one
    chat_id: str = api.create_chat(ALICE)["chat_id"]
    repository = ChatRepository(settings().region)
    stale = repository.load(chat_id)
    assert stale is not None
    assert api.patch(f"/chats/{chat_id}/settings", ALICE, body={"max_message_length": 100}).status == 200
    head = ChatRecord.get(chat_id)
    assert head.cold_version == ChatRecord.get(cold_key(chat_id)).version != stale.cold_version
    # When it loads the page
    [loaded] = repository.load_many([chat_id])
    # Then it has the new part
    assert loaded.chat.settings.max_message_length == 100
    assert loaded.cold_version == head.cold_version


def test_get_chats_reads_no_chat_alone(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given three chats of Alice's
    for n in range(3):
        api.create_chat(ALICE, title=f"c{n}")

    # When she lists them, with reading a chat alone refused
    def alone(self: ChatRepository, chat_id: str) -> None:
        raise AssertionError(f"{chat_id} read alone")

    monkeypatch.setattr(ChatRepository, "load", alone)
    listed = api.get("/chats", ALICE)
    # Then all three come from the batched reads
    assert listed.status == 200, listed.text
    assert len(listed.json["items"]) == 3
