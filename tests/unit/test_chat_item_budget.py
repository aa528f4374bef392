"""The chat items have a size budget (issue 13): every part is bounded, the bounds are enforced where
the part grows, and the largest chat those bounds allow stays under ``CHAT_ITEM_BUDGET`` in each of
its two items; the head that every post rewrites stays under one write unit (issue 15, A3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from bench.dynamodb_units import item_size
from parley.adapters.chat_items import assemble, split
from parley.adapters.chat_line import decode_line
from parley.adapters.dynamodb import LoadedChat, chat_records
from parley.domain import extensions as ext
from parley.domain.commands import create_chat, join, post_message
from parley.domain.inbox import PREVIEW_LENGTH, ChatLine, LastMessage, advance, preview
from parley.domain.model import (
    CHAT_ITEM_BUDGET,
    MAX_AI_CONTEXT_BYTES,
    MAX_CONFIG_BYTES,
    MAX_INSTALLS,
    MAX_PARTICIPANTS,
    MAX_PERSONA_BYTES,
    MAX_POST_TIMES,
    MAX_RECENT_POSTERS,
    MAX_USER_ID_LENGTH,
    AIProfile,
    Chat,
    ChatSettings,
    Install,
    Participant,
    TurnState,
    json_bytes,
)
from parley.errors import (
    ChatFullError,
    InvalidConfigError,
    InvalidRequestError,
    NotAuthenticatedError,
    RateLimitedError,
)
from parley.http.app import STATUS
from parley.http.context import identity_of
from tests.unit.chats import OWNER, T0, at, new_chat

WIDE = "\U0001d11e"  # 4 bytes of UTF-8: the widest character that is not escaped in JSON
ESCAPED = "\x01"  # 6 bytes in JSON (\u0001): the widest any character gets
LATE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def _user(n: int) -> str:
    """The widest id a token may carry: printable ASCII, each quote 2 bytes in JSON."""
    return f"{n:03d}" + '"' * (MAX_USER_ID_LENGTH - 3)


def _largest_chat() -> Chat:
    """Every part of the chat at the largest its bounds allow."""
    ais = 10  # CreateChatRequest.ai_participants: max_length
    persona = WIDE * ((MAX_PERSONA_BYTES // ais - 2) // 4)
    profile = AIProfile(persona=persona, provider=ESCAPED * 64, model=ESCAPED * 256, invocation="on_mention")
    people = [_user(n) for n in range(MAX_PARTICIPANTS - ais)]
    participants = [
        Participant(id=u, name=WIDE * 64, kind="human", role="moderator", joined_at=LATE) for u in people
    ] + [
        Participant(
            id=f"{n:02d}" + "a" * 62, name=WIDE * 64, kind="ai", role="member", joined_at=LATE, ai=profile
        )
        for n in range(ais)
    ]
    ids = [f"{n:02d}" + "x" * 38 for n in range(MAX_INSTALLS)]  # ID_PATTERN: 40 characters
    config_each = MAX_CONFIG_BYTES // MAX_INSTALLS - json_bytes({"k": ""})
    installs = {
        i: Install(
            extension_id=i,
            version="9" * 64,
            enabled=False,
            config={"k": "z" * config_each},
            installed_by=people[0],
            installed_at=LATE,
            consecutive_failures=10**9,
            disabled_reason="circuit_open",
            ai_context=ESCAPED * (MAX_AI_CONTEXT_BYTES // 6 - 1),
            active_since=10**15,
        )
        for i in ids
    }
    assert sum(json_bytes(i.config) for i in installs.values()) <= MAX_CONFIG_BYTES
    settings = ChatSettings(
        max_message_length=20_000,
        rate_limit_messages=10_000,
        rate_limit_window_seconds=3600,
        turn_timeout_seconds=86_400,
        hook_fallback="reject",
        extension_messages_per_minute=600,
        extension_messages_per_minute_total=6000,
    )
    return Chat(
        chat_id="0" * 36,
        title=ESCAPED * 200,
        status="completed",
        turn_mode="round_robin",
        settings=settings,
        participants=tuple(participants),
        turn=TurnState(
            holder_id=people[0],
            holder_joined_at=LATE,
            holder_kind="human",
            last_human=(LATE, people[1]),
            turn_number=10**15,
            consumed=True,
            since=LATE,
            quiet_turns=10**9,
        ),
        created_by=people[0],
        created_at=LATE,
        last_message_sequence=10**15,
        last_human_sequence=10**15,
        ai_replied={p.id: 10**15 for p in participants if p.ai},
        last_event_sequence=10**15,
        recent_posts={
            _user(n): (9999999999.999999,) * (MAX_POST_TIMES // MAX_RECENT_POSTERS)
            for n in range(MAX_RECENT_POSTERS)
        },
        extensions=installs,
        bot_minute=10**12,
        bot_posts={i: 10**6 for i in ids},
        roster_version=10**15,
    )


def _stored_sizes(
    chat: Chat, loaded: LoadedChat | None = None, line: ChatLine | None = None
) -> tuple[int, int | None]:
    """The head's size and the cold item's (None when the write leaves it as it is)."""
    head, cold = chat_records(chat, loaded, LATE, line=line)
    head.version, head.cold_version = 10**9, 10**9
    head.turn_due, head.turn_deadline = "due#15", LATE.isoformat()
    head_item: dict[str, Any] = head.serialize()
    if cold is None:
        return item_size(head_item), None
    cold.version = 10**9
    cold_item: dict[str, Any] = cold.serialize()
    return item_size(head_item), item_size(cold_item)


def _loaded(chat: Chat) -> LoadedChat:
    """The chat as read back after its last write: its cold part as that write stored it."""
    _, cold = chat_records(chat, None, LATE)
    assert cold is not None
    return LoadedChat(chat, 7, cold_version=3, cold_state=cold.state)


def _largest_line(chat: Chat) -> ChatLine:
    """A preview of the widest text from a sender not in the roster, and every person's marker."""
    last = LastMessage(
        message_id=ESCAPED * 64,
        sender_id=ESCAPED * MAX_USER_ID_LENGTH,
        sender_name=ESCAPED * 64,
        sender_kind="extension",
        text=ESCAPED * PREVIEW_LENGTH,
        truncated=True,
        sequence=10**15,
        created_at=LATE,
    )
    return ChatLine(last, 10**9, {p.id: 10**15 for p in chat.participants if p.kind == "human"})


def test_the_largest_chat_the_bounds_allow_stays_under_the_budget() -> None:
    chat = _largest_chat()
    head, cold = _stored_sizes(chat, line=_largest_line(chat))
    assert cold is not None
    assert head < CHAT_ITEM_BUDGET < 400 * 1024, head
    assert cold < CHAT_ITEM_BUDGET, cold
    # and the compact form loads back as the same chat, whole or in its two parts
    assert Chat.model_validate_json(chat.stored()) == chat
    assert assemble(chat.chat_id, *split(chat)) == chat


def test_a_small_chat_stays_small() -> None:
    # Given a chat of two people with one install, after each posted
    chat = join(new_chat("free"), user_id="user-bob", name="Bob", now=at(1)).chat
    chat = ext.put_install(
        chat, user_id=OWNER, extension_id="welcome", version="1.0.0", enabled=True, config={}, now=at(2)
    ).chat
    for n, sender in enumerate((OWNER, "user-bob")):
        chat = post_message(
            chat, sender_id=sender, text="hi", client_message_id=None, message_id=f"m{n}", now=at(3 + n)
        ).chat
    # Then its items are well under a kilobyte of defaults, one write unit... plus what they hold
    head, cold = _stored_sizes(chat)
    assert cold is not None
    assert head < 1024, head
    assert cold < 1024, cold


def _ten_members(name: str = "Member") -> Chat:
    """Ten people and an AI participant with a persona, three installs with configs."""
    chat = new_chat("free", settings=ChatSettings(rate_limit_messages=50))
    for n in range(9):
        member = f"{name} {n}"[-64:] if len(name) < 64 else name[: 63 - len(str(n))] + f" {n}"
        chat = join(chat, user_id=f"user-{n:02d}-" + "x" * 28, name=member, now=at(1)).chat
    profile = AIProfile(persona="You are a helpful assistant. " * 10, model="anthropic.claude")
    ai = Participant(id="ai-helper", name="Helper", kind="ai", role="member", joined_at=at(1), ai=profile)
    chat = chat.model_copy(update={"participants": (*chat.participants, ai)})
    for extension_id in ("welcome", "analytics", "webhook"):
        chat = ext.put_install(
            chat,
            user_id=OWNER,
            extension_id=extension_id,
            version="1.0.0",
            enabled=True,
            config={"template": "Welcome, {name}! " * 4},
            now=at(2),
        ).chat
    return chat


def _everyone_posts_twice(chat: Chat, text: str = "hi") -> tuple[Chat, ChatLine]:
    """Each person posts twice within the rate-limit window (UUID message ids, as the api makes
    them); the line the head carries after it."""
    people = [p.id for p in chat.participants if p.kind == "human"]
    line = ChatLine()
    for n, sender in enumerate(people * 2):
        posted = post_message(
            chat, sender_id=sender, text=text, client_message_id=None, message_id=str(uuid4()), now=at(3 + n)
        )
        assert posted.message is not None
        chat = posted.chat
        line = ChatLine(preview(posted.message), 1, {**line.posted, sender: posted.message.sequence})
    return chat, line


def test_a_post_rewrites_only_a_head_under_one_write_unit_at_ten_members() -> None:
    # Given a chat of ten people and an AI participant with a persona, three installs with configs
    before = _ten_members()
    # When each person posts twice within the rate-limit window
    chat, line = _everyone_posts_twice(before)
    # Then the write leaves the cold item alone, and the head, with the chat list's line (the latest
    # message's preview, ten posters' markers), is under one write unit (two in a transaction), where
    # the whole chat in one item would take three
    head, cold = _stored_sizes(chat, _loaded(before), line)
    assert cold is None
    assert head < 1024, head
    assert item_size(_whole_item(chat)) > 2048


@pytest.mark.parametrize("sender", ["member", "bot"])
def test_a_full_preview_of_a_long_name_never_costs_a_post_a_write_unit_at_ten_members(sender: str) -> None:
    # Given the ten-member chat, its people with 64-character names, each of whom posted twice
    before = _ten_members(name="N" * 64)
    chat, line = _everyone_posts_twice(before)
    # When the latest message is 300 characters (its preview the first 140, cut), from a member or
    # from a bot with a 64-character name and a 40-character id (not in the roster: spelled out)
    assert line.last is not None
    last = line.last.model_copy(update={"text": "y" * 140, "truncated": True})
    if sender == "bot":
        bot = {"sender_id": "ext:" + "b" * 40, "sender_name": "B" * 64, "sender_kind": "extension"}
        last = last.model_copy(update=bot)
    line = ChatLine(last, 3, line.posted)
    head, cold = _stored_sizes(chat, _loaded(before), line)
    # Then the head stays under one write unit
    assert cold is None
    assert head < 1024, head
    # And it reads back as the same line: whole from a member; from the bot, without the text, which
    # alone would have crossed the kilobyte (the chat list reads it from the message)
    stored, _ = chat_records(chat, _loaded(before), LATE, line=line)
    back = decode_line(stored.inbox, chat.participants)
    if sender == "member":
        assert back == line
    else:
        assert back is not None
        assert back.last is not None
        assert back.spilled
        assert back.last.text == ""
        assert replace(back, last=back.last.model_copy(update={"text": last.text}), spilled=False) == line
        # while the same post by a member with the bot's short name keeps its text
        short = ChatLine(last.model_copy(update={"sender_name": "Bot"}), 3, line.posted)
        kept, _ = chat_records(chat, _loaded(before), LATE, line=short)
        assert decode_line(kept.inbox, chat.participants) == short


def _whole_item(chat: Chat) -> dict[str, Any]:
    """The chat as the older one-item form stored it."""
    return {"chat_id": {"S": chat.chat_id}, "state": {"S": chat.stored()}, "version": {"N": "1"}}


# -- each bound, where its part grows -------------------------------------------------------------


def test_a_full_chat_refuses_one_more_member() -> None:
    chat = new_chat("free")
    for n in range(MAX_PARTICIPANTS - 1):
        chat = join(chat, user_id=f"user-{n}", name="x", now=at(1)).chat
    with pytest.raises(ChatFullError) as refused:
        join(chat, user_id="user-late", name="Late", now=at(2))
    assert (refused.value.code, STATUS[ChatFullError]) == ("chat_full", 409)
    # a member joining again is still harmless
    assert join(chat, user_id="user-0", name="x", now=at(2)).chat == chat


def test_personas_are_bounded_together_in_bytes() -> None:
    half = AIProfile(persona=WIDE * (MAX_PERSONA_BYTES // 8))
    fits = [("a1", "A1", half), ("a2", "A2", AIProfile(persona=WIDE * (MAX_PERSONA_BYTES // 8 - 1)))]
    kwargs: dict[str, Any] = dict(
        chat_id="c",
        creator_id=OWNER,
        creator_name="Alice",
        title="t",
        turn_mode="free",
        settings=ChatSettings(),
        now=T0,
    )
    create_chat(ai_participants=fits, **kwargs)
    with pytest.raises(InvalidRequestError):
        create_chat(ai_participants=[("a1", "A1", half), ("a2", "A2", half)], **kwargs)


def test_post_times_are_bounded_chat_wide_the_oldest_forgotten_first() -> None:
    # Given a chat allowing 10,000 posts an hour per member, where two members posted past the bound
    chat = new_chat("free", settings=ChatSettings(rate_limit_messages=10_000, rate_limit_window_seconds=3600))
    chat = join(chat, user_id="user-bob", name="Bob", now=at(0)).chat
    for n in range(MAX_POST_TIMES + 10):
        sender = OWNER if n % 2 else "user-bob"
        chat = post_message(
            chat, sender_id=sender, text="hi", client_message_id=None, message_id=f"m{n}", now=at(n / 10)
        ).chat

    # Then the item keeps the latest MAX_POST_TIMES times, both posters' newest among them
    kept = sorted(t for ts in chat.recent_posts.values() for t in ts)
    assert len(kept) == MAX_POST_TIMES
    assert kept[0] == at((10) / 10).timestamp()
    assert chat.recent_posts[OWNER][-1] == at((MAX_POST_TIMES + 9) / 10).timestamp()
    # and a small limit still counts exactly
    small = new_chat("free", settings=ChatSettings(rate_limit_messages=2, rate_limit_window_seconds=60))
    for n in range(2):
        small = post_message(
            small, sender_id=OWNER, text="hi", client_message_id=None, message_id=f"s{n}", now=at(n)
        ).chat
    with pytest.raises(RateLimitedError):
        post_message(small, sender_id=OWNER, text="hi", client_message_id=None, message_id="s2", now=at(5))


def test_post_times_are_kept_for_a_bounded_number_of_posters() -> None:
    # Given a window longer than the churn: posters who joined, posted and left
    chat = new_chat("free", settings=ChatSettings(rate_limit_window_seconds=3600))
    for n in range(MAX_RECENT_POSTERS + 5):
        user = f"user-{n}"
        chat = join(chat, user_id=user, name="x", now=at(n)).chat
        chat = post_message(
            chat, sender_id=user, text="hi", client_message_id=None, message_id=f"m{n}", now=at(n)
        ).chat
        chat = chat.model_copy(update={"participants": chat.participants[:1]})  # they leave
    # Then only the latest posters' times are kept
    assert len(chat.recent_posts) == MAX_RECENT_POSTERS
    assert "user-0" not in chat.recent_posts
    assert f"user-{MAX_RECENT_POSTERS + 4}" in chat.recent_posts


def test_configs_are_bounded_together_per_chat() -> None:
    chat = new_chat("free")
    big = {"template": "x" * (MAX_CONFIG_BYTES - 100)}
    chat = ext.put_install(
        chat, user_id=OWNER, extension_id="welcome", version="1", enabled=True, config=big, now=at(1)
    ).chat
    with pytest.raises(InvalidConfigError) as refused:
        ext.put_install(
            chat,
            user_id=OWNER,
            extension_id="webhook",
            version="1",
            enabled=True,
            config={"url": "x" * 200},
            now=at(2),
        )
    assert refused.value.code == "invalid_config"
    # and an install may still shrink its own
    ext.put_install(
        chat,
        user_id=OWNER,
        extension_id="welcome",
        version="1",
        enabled=True,
        config={"template": "y"},
        now=at(3),
    )


def test_an_ai_context_is_cut_to_its_bytes_as_stored() -> None:
    chat = ext.put_install(
        new_chat("free"), user_id=OWNER, extension_id="notes", version="1", enabled=True, config={}, now=at(1)
    ).chat
    chat = ext.set_ai_context(chat, extension_id="notes", text=ESCAPED * 2000).chat
    stored = chat.extensions["notes"].ai_context
    assert 0 < json_bytes(stored) <= MAX_AI_CONTEXT_BYTES
    assert (
        ext.set_ai_context(chat, extension_id="notes", text="plain").chat.extensions["notes"].ai_context
        == "plain"
    )


@pytest.mark.parametrize("sub", ["u" * (MAX_USER_ID_LENGTH + 1), "user\x01", "us\u00e9r"])
def test_a_token_subject_outside_the_id_bounds_is_refused(sub: str) -> None:
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": sub}}}}}
    with pytest.raises(NotAuthenticatedError):
        identity_of(event)


def test_a_display_name_keeps_printable_characters_only() -> None:
    event = {
        "requestContext": {"authorizer": {"jwt": {"claims": {"sub": "u-1", "name": "Al\x01ice" + "e" * 80}}}}
    }
    assert identity_of(event).name == "Alice" + "e" * 59


def test_a_preview_left_out_of_the_head_stays_left_out_through_a_commit_with_no_message() -> None:
    before = _ten_members(name="N" * 64)
    chat, line = _everyone_posts_twice(before)
    assert line.last is not None
    long_bot = {"sender_id": "ext:" + "b" * 40, "sender_name": "B" * 64, "sender_kind": "extension"}
    last = line.last.model_copy(update={"text": "y" * 140, "truncated": True, **long_bot})
    head, _ = chat_records(chat, _loaded(before), LATE, line=ChatLine(last, 3, line.posted))
    spilled = decode_line(head.inbox, chat.participants)
    assert spilled is not None
    assert spilled.spilled
    # a join, a setting, a whisper: the line is carried over as the head holds it
    again, _ = chat_records(chat, _loaded(chat), LATE, line=advance(spilled, []))
    carried = decode_line(again.inbox, chat.participants)
    assert carried is not None
    assert carried.spilled  # read from the message, never blank
