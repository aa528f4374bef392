"""The chat in two items (issue 15, A3): a post rewrites only the small head; the cold part changes
by version, is cached by version, and a chat stored in the older one-item form is read as it is and
split on its next write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley import root
from parley.adapters.chat_items import cold_key
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.inbox import InboxStore
from parley.adapters.tables import ChatRecord
from parley.errors import ContentionError
from parley.settings import settings
from tests.support.api import Api, User

ALICE = User("user-alice", "Alice")
BOB = User("user-bob", "Bob")


def _chat_with_bob(api: Api) -> str:
    chat_id: str = api.create_chat(ALICE)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", BOB).status == 200
    return chat_id


def _fresh_repository() -> ChatRepository:
    """Another container's repository: its own, empty cache."""
    return ChatRepository(settings().region)


def test_posts_rewrite_the_head_only_and_a_settings_change_moves_the_cold_version(api: Api) -> None:
    # Given a chat of two
    chat_id = _chat_with_bob(api)
    head = ChatRecord.get(chat_id, consistent_read=True)
    cold = ChatRecord.get(cold_key(chat_id), consistent_read=True)
    assert head.cold_version == cold.version
    # When both post
    for user in (ALICE, BOB, ALICE):
        assert api.send(user, chat_id, f"hi from {user.name}").status == 201
    # Then the head moved with every post, the cold item did not, and the head holds no cold field
    after = ChatRecord.get(chat_id, consistent_read=True)
    assert after.version == head.version + 3
    assert ChatRecord.get(cold_key(chat_id), consistent_read=True).version == cold.version
    assert after.cold_version == cold.version
    assert "title" not in after.state
    assert "participants" not in after.state
    # When the owner changes a setting
    patched = api.patch(f"/chats/{chat_id}/settings", ALICE, body={"max_message_length": 100})
    assert patched.status == 200, patched.text
    # Then the cold item has a new version the head names, and any container reads the new setting
    moved = ChatRecord.get(chat_id, consistent_read=True)
    assert moved.cold_version == cold.version + 1
    assert ChatRecord.get(cold_key(chat_id), consistent_read=True).version == moved.cold_version
    loaded = _fresh_repository().load(chat_id)
    assert loaded is not None
    assert loaded.chat.settings.max_message_length == 100
    assert api.send(BOB, chat_id, "x" * 101).status == 422


def test_a_container_that_cached_an_older_cold_version_reads_the_new_one(api: Api) -> None:
    # Given a container that read the chat (and cached its cold part)
    chat_id = _chat_with_bob(api)
    elsewhere = _fresh_repository()
    before = elsewhere.load(chat_id)
    assert before is not None
    assert before.chat.member(BOB.user_id) is not None
    # When Bob leaves through another container
    assert api.delete(f"/chats/{chat_id}/members/me", BOB).status == 204
    # Then the first container's next read sees it: the head names a version its cache does not hold
    after = elsewhere.load(chat_id)
    assert after is not None
    assert after.chat.member(BOB.user_id) is None
    assert after.cold_version == (before.cold_version or 0) + 1


def test_a_chat_in_the_older_one_item_form_is_read_and_split_on_its_next_write(api: Api) -> None:
    # Given a chat stored as the earlier code stored it: one item, the whole chat in `state`
    chat_id = _chat_with_bob(api)
    assert api.send(ALICE, chat_id, "before the upgrade").status == 201
    whole = root.chat_repository().load(chat_id)
    assert whole is not None
    ChatRecord(cold_key(chat_id)).delete(add_version_condition=False)
    old = ChatRecord(
        chat_id, state=whole.chat.stored(), updated_at=datetime.now(UTC).isoformat(), version=whole.version
    )
    old.save()
    assert ChatRecord.get(chat_id, consistent_read=True).cold_version is None
    # When a new container reads it
    loaded = _fresh_repository().load(chat_id)
    # Then it is the same chat
    assert loaded is not None
    assert loaded.chat == whole.chat
    assert loaded.cold_version is None
    # When Bob posts (the chat's next write)
    assert api.send(BOB, chat_id, "after the upgrade").status == 201
    # Then it is in two items now, and reads as the chat with the new message
    head = ChatRecord.get(chat_id, consistent_read=True)
    assert head.cold_version == 1
    assert ChatRecord.get(cold_key(chat_id), consistent_read=True).version == 1
    upgraded = _fresh_repository().load(chat_id)
    assert upgraded is not None
    assert upgraded.chat == whole.chat.model_copy(
        update={
            "last_message_sequence": 2,
            "last_human_sequence": 2,
            "last_event_sequence": upgraded.chat.last_event_sequence,
            "recent_posts": upgraded.chat.recent_posts,
        }
    )
    assert BOB.user_id in upgraded.chat.recent_posts
    messages = api.get(f"/chats/{chat_id}/messages", ALICE).json["items"]
    assert [m["text"] for m in messages] == ["before the upgrade", "after the upgrade"]
    # and the rebuild's scan lists the chat once, not its cold item
    ids = InboxStore().chat_ids()
    assert ids.count(chat_id) == 1
    assert cold_key(chat_id) not in ids


def test_a_cold_item_that_never_matches_its_head_is_contention_not_a_wrong_chat(api: Api) -> None:
    # Given a head that names a cold version the table does not have (a writer always commits both)
    chat_id = _chat_with_bob(api)
    head = ChatRecord.get(chat_id, consistent_read=True)
    head.update(actions=[ChatRecord.cold_version.set(int(head.cold_version or 0) + 5)])
    # Then a read gives up with the retryable error rather than assembling a chat from mismatched parts
    with pytest.raises(ContentionError):
        _fresh_repository().load(chat_id)


def test_the_chat_reads_back_equal_to_what_was_written(api: Api) -> None:
    chat_id = _chat_with_bob(api)
    assert api.send(ALICE, chat_id, "hello").status == 201
    first = root.chat_repository().load(chat_id)
    second = _fresh_repository().load(chat_id)
    assert first is not None
    assert second is not None
    assert first.chat == second.chat
    assert first.chat.chat_id == chat_id
