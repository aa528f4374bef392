"""Chat commands as pure decisions: (chat, request, now) -> Outcome or a ParleyError."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from parley.catalog import (
    ChatCompleted,
    ChatCreated,
    ChatSettingsChanged,
    MessageStored,
    TurnChanged,
    TurnMode,
    UserJoined,
    UserLeft,
)
from parley.domain.commands import (
    advance_turn,
    change_settings,
    complete,
    create_chat,
    join,
    leave,
    post_message,
)
from parley.domain.model import Chat, ChatSettings
from parley.errors import (
    ChatCompletedError,
    ForbiddenError,
    InvalidRequestError,
    NotYourTurnError,
    RateLimitedError,
)
from tests.unit.chats import OWNER, T0, ai, at, join_order, new_chat, with_members, with_role, with_turn

BOB = "user-bob"
CAROL = "user-carol"


def post(chat: Chat, sender_id: str, text: str = "hello", *, now: datetime = T0, n: int = 1) -> Chat:
    return post_message(
        chat, sender_id=sender_id, text=text, client_message_id=f"c-{n}", message_id=f"m-{n}", now=now
    ).chat


# --------------------------------------------------------------------------------------------------
# create_chat
# --------------------------------------------------------------------------------------------------


def test_create_chat_makes_the_creator_its_owner() -> None:
    # Given a creator and no AI participants
    # When the chat is created
    outcome = create_chat(
        chat_id="chat-1",
        creator_id=OWNER,
        creator_name="Alice",
        title="Planning",
        turn_mode="free",
        ai_participants=[],
        settings=ChatSettings(),
        now=T0,
    )

    # Then the creator is its only member, a human owner who joined at creation
    chat = outcome.chat
    assert [(p.id, p.kind, p.role, p.joined_at) for p in chat.participants] == [(OWNER, "human", "owner", T0)]
    assert outcome.joined is not None
    assert outcome.joined.id == OWNER
    assert (chat.chat_id, chat.title, chat.created_by, chat.created_at) == ("chat-1", "Planning", OWNER, T0)
    assert chat.status == "active"
    assert chat.last_message_sequence == 0
    assert chat.is_moderator(OWNER)


def test_ai_participants_join_after_the_creator_in_the_given_order() -> None:
    # Given AI participants whose ids do not sort in the order they are given
    ais = ["ai-zeta", "ai-alpha", "ai-mid"]

    # When the chat is created
    chat = new_chat("round_robin", ais=ais)

    # Then the creator joined first and the AIs after, in the given order, each strictly later
    assert join_order(chat) == [OWNER, *ais]
    joined = [p.joined_at for p in chat.participants]
    assert joined == sorted(joined)
    assert len(set(joined)) == len(joined)
    for ai_id in ais:
        member = chat.member(ai_id)
        assert member is not None
        assert (member.kind, member.role) == ("ai", "member")
        assert member.ai is not None
        assert chat.human(ai_id) is None


def test_create_chat_announces_creation_then_each_join_in_order() -> None:
    # Given a round-robin chat request with two AI participants
    # When the chat is created
    outcome = create_chat(
        chat_id="chat-1",
        creator_id=OWNER,
        creator_name="Alice",
        title="Planning",
        turn_mode="round_robin",
        ai_participants=[ai("ai-one"), ai("ai-two")],
        settings=ChatSettings(max_message_length=500),
        now=T0,
    )

    # Then ChatCreated comes first, one UserJoined per member in join order, then the first TurnChanged
    kinds = [type(e).__name__ for e in outcome.events]
    assert kinds == ["ChatCreated", "UserJoined", "UserJoined", "UserJoined", "TurnChanged"]
    created = outcome.events[0]
    assert isinstance(created, ChatCreated)
    assert [p.id for p in created.participants] == [OWNER, "ai-one", "ai-two"]
    assert created.settings["max_message_length"] == 500
    assert created.turn_mode == "round_robin"
    joined = [e.participant.id for e in outcome.events if isinstance(e, UserJoined)]
    assert joined == [OWNER, "ai-one", "ai-two"]


@pytest.mark.parametrize(
    ("creator", "ais"),
    [
        pytest.param(OWNER, [OWNER], id="ai-reuses-creator-id"),
        pytest.param(OWNER, ["ai-bot", "ai-bot"], id="two-ais-share-an-id"),
    ],
)
def test_create_chat_rejects_duplicate_participant_ids(creator: str, ais: list[str]) -> None:
    # Given participants that share an id
    # When the chat is created
    # Then the request is invalid and names the offending field
    with pytest.raises(InvalidRequestError, match="unique") as excinfo:
        create_chat(
            chat_id="chat-1",
            creator_id=creator,
            creator_name="Alice",
            title="Planning",
            turn_mode="free",
            ai_participants=[ai(a) for a in ais],
            settings=ChatSettings(),
            now=T0,
        )
    assert excinfo.value.details == {"field": "ai_participants"}


@pytest.mark.parametrize("mode", ["alternating", "moderated"])
def test_create_chat_accepts_the_enforced_strict_modes_and_gives_the_creator_the_floor(
    mode: TurnMode,
) -> None:
    # Given a strict turn mode with an AI participant
    # When a chat is created with it
    chat = new_chat(mode, ais=["ai-aardvark"])

    # Then the creator (a person, and the chair in moderated mode) holds the first turn
    assert chat.turn_mode == mode
    assert (chat.turn.holder_id, chat.turn.turn_number, chat.turn.consumed) == (OWNER, 1, False)


def test_round_robin_chat_starts_with_the_creator_holding_the_turn() -> None:
    # Given a round-robin chat request with an AI participant
    # When it is created
    outcome = create_chat(
        chat_id="chat-1",
        creator_id=OWNER,
        creator_name="Alice",
        title="Planning",
        turn_mode="round_robin",
        ai_participants=[ai("ai-aardvark")],
        settings=ChatSettings(),
        now=T0,
    )

    # Then the creator holds the first turn, announced as started
    turn = outcome.chat.turn
    assert (turn.holder_id, turn.turn_number, turn.consumed, turn.since) == (OWNER, 1, False, T0)
    assert turn.holder_joined_at == T0
    changed = outcome.events[-1]
    assert isinstance(changed, TurnChanged)
    assert (changed.holder_id, changed.previous_holder_id, changed.reason, changed.turn_number) == (
        OWNER,
        None,
        "started",
        1,
    )


def test_free_chat_has_no_turn_holder_and_announces_no_turn() -> None:
    # Given a free chat request with an AI participant
    # When it is created
    outcome = create_chat(
        chat_id="chat-1",
        creator_id=OWNER,
        creator_name="Alice",
        title="Planning",
        turn_mode="free",
        ai_participants=[ai("ai-bot")],
        settings=ChatSettings(),
        now=T0,
    )

    # Then nobody holds the floor and no TurnChanged is emitted
    assert outcome.chat.turn.holder_id is None
    assert outcome.chat.turn.turn_number == 0
    assert not any(isinstance(e, TurnChanged) for e in outcome.events)


def test_ai_join_order_survives_a_creation_time_at_the_end_of_a_second() -> None:
    # Given a creation time in the last microsecond of a second, and AIs whose ids sort before the creator
    now = datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC)

    # When a round-robin chat is created
    outcome = create_chat(
        chat_id="chat-1",
        creator_id="user-zed",
        creator_name="Zed",
        title="Planning",
        turn_mode="round_robin",
        ai_participants=[ai("ai-one"), ai("ai-two")],
        settings=ChatSettings(),
        now=now,
    )

    # Then join order is still creator first, AIs in the given order, and the creator holds the turn
    chat = outcome.chat
    assert join_order(chat) == ["user-zed", "ai-one", "ai-two"]
    assert len({p.joined_at for p in chat.participants}) == 3
    assert chat.turn.holder_id == "user-zed"


# --------------------------------------------------------------------------------------------------
# join / leave
# --------------------------------------------------------------------------------------------------


def test_join_adds_a_human_member() -> None:
    # Given a chat
    chat = new_chat("round_robin")

    # When Bob joins
    outcome = join(chat, user_id=BOB, name="Bob", now=at(5))

    # Then Bob is a plain human member who joined now, and the join is announced with the turn mode
    bob = outcome.chat.member(BOB)
    assert bob is not None
    assert (bob.name, bob.kind, bob.role, bob.joined_at) == ("Bob", "human", "member", at(5))
    assert outcome.joined == bob
    assert len(outcome.events) == 1
    joined = outcome.events[0]
    assert isinstance(joined, UserJoined)
    assert joined.participant == bob.view()
    assert joined.turn_mode == "round_robin"
    # And the floor is left to the turns handler
    assert outcome.chat.turn == chat.turn


def test_join_is_idempotent() -> None:
    # Given Bob is already a member
    chat = with_members(new_chat("free"), BOB)

    # When Bob joins again, later and under another name
    outcome = join(chat, user_id=BOB, name="Robert", now=at(60))

    # Then nothing changes and nothing is announced
    assert outcome.chat == chat
    assert outcome.events == ()
    assert outcome.joined is None
    member = outcome.chat.member(BOB)
    assert member is not None
    assert (member.name, member.joined_at) == ("Bob", at(1))


def test_join_refuses_a_human_using_an_ai_participants_id() -> None:
    # Given a chat with an AI participant
    chat = new_chat("free", ais=["ai-bot"])

    # When a signed-in user whose id equals the AI's id tries to join
    # Then they are refused, so nobody can impersonate the AI
    with pytest.raises(ForbiddenError, match="AI participant"):
        join(chat, user_id="ai-bot", name="Mallory", now=at(1))


def test_join_refuses_new_members_of_a_completed_chat() -> None:
    # Given a completed chat
    chat = complete(with_members(new_chat("free"), BOB), user_id=OWNER).chat

    # When a newcomer joins, and when an existing member joins again
    # Then the newcomer is refused, while the member's repeated join stays a harmless no-op
    with pytest.raises(ChatCompletedError):
        join(chat, user_id=CAROL, name="Carol", now=at(10))
    assert join(chat, user_id=BOB, name="Bob", now=at(10)).events == ()


def test_leave_removes_the_member_but_keeps_their_rate_limit_history() -> None:
    # Given Bob is a member who has posted
    chat = post(with_members(new_chat("free"), BOB), BOB, now=at(2))
    assert BOB in chat.recent_posts

    # When Bob leaves
    outcome = leave(chat, user_id=BOB)

    # Then he is gone, his recent posts still count (leave and rejoin is no way round the limit),
    # and the leave is announced
    assert outcome.chat.member(BOB) is None
    assert outcome.chat.recent_posts[BOB] == chat.recent_posts[BOB]
    assert outcome.left == BOB
    assert len(outcome.events) == 1
    left = outcome.events[0]
    assert isinstance(left, UserLeft)
    assert (left.participant_id, left.reason, left.turn_mode) == (BOB, "left", "free")
    assert [p.id for p in outcome.chat.participants] == [OWNER]


@pytest.mark.parametrize("user_id", ["user-stranger", "ai-bot"])
def test_leave_of_a_non_human_member_changes_nothing(user_id: str) -> None:
    # Given a chat with an AI participant
    chat = new_chat("free", ais=["ai-bot"])

    # When a stranger, or the AI's id, leaves
    outcome = leave(chat, user_id=user_id)

    # Then nothing changes and nothing is announced
    assert outcome.chat == chat
    assert outcome.events == ()
    assert outcome.left is None


def test_leave_leaves_the_floor_to_the_turns_handler() -> None:
    # Given Bob holds the turn in a round-robin chat
    chat = with_turn(with_members(new_chat("round_robin"), BOB, CAROL), BOB)

    # When Bob leaves
    outcome = leave(chat, user_id=BOB)

    # Then the turn still names him (reconcile_turn moves it to his successor)
    assert outcome.chat.turn.holder_id == BOB
    assert advance_turn(outcome.chat, now=at(30)).chat.turn.holder_id == CAROL


# --------------------------------------------------------------------------------------------------
# post_message
# --------------------------------------------------------------------------------------------------


def test_post_stores_a_message() -> None:
    # Given a free chat
    chat = new_chat("free")

    # When Alice posts
    outcome = post_message(
        chat, sender_id=OWNER, text="hi all", client_message_id="c-9", message_id="m-9", now=at(3)
    )

    # Then the message is the chat's first, and MessageStored carries it with the turn context
    message = outcome.message
    assert message is not None
    assert (message.message_id, message.chat_id, message.sequence) == ("m-9", "chat-1", 1)
    assert (message.sender_id, message.sender_name, message.sender_kind) == (OWNER, "Alice", "human")
    assert (message.text, message.client_message_id, message.created_at) == ("hi all", "c-9", at(3))
    assert outcome.chat.last_message_sequence == 1
    assert outcome.events == (MessageStored(message=message, turn_mode="free", turn_number=0),)
    assert outcome.chat.recent_posts[OWNER] == (at(3).timestamp(),)


def test_message_sequence_increments_by_one_per_post() -> None:
    # Given a free chat of Alice and Bob
    chat = with_members(new_chat("free"), BOB)

    # When they post five messages between them
    sequences = []
    for i in range(5):
        outcome = post_message(
            chat,
            sender_id=[OWNER, BOB][i % 2],
            text=f"message {i}",
            client_message_id=None,
            message_id=f"m-{i}",
            now=at(10 + i),
        )
        assert outcome.message is not None
        sequences.append(outcome.message.sequence)
        chat = outcome.chat

    # Then the sequences are 1..5 without gaps
    assert sequences == [1, 2, 3, 4, 5]
    assert chat.last_message_sequence == 5


@pytest.mark.parametrize("text", ["", " ", "\n\t  \r\n"])
def test_post_rejects_empty_or_whitespace_text(text: str) -> None:
    # Given a free chat
    chat = new_chat("free")

    # When Alice posts blank text
    # Then it is refused as invalid
    with pytest.raises(InvalidRequestError, match="empty") as excinfo:
        post(chat, OWNER, text)
    assert excinfo.value.details == {"field": "text"}


def test_post_accepts_text_exactly_at_the_length_limit_and_refuses_one_more() -> None:
    # Given a chat whose messages may be 20 characters long
    chat = new_chat("free", settings=ChatSettings(max_message_length=20))

    # When Alice posts 20 characters, then 21
    accepted = post(chat, OWNER, "x" * 20)

    # Then the first is stored and the second refused, naming both lengths
    assert accepted.last_message_sequence == 1
    with pytest.raises(InvalidRequestError, match=r"21 characters.*at most 20"):
        post(accepted, OWNER, "y" * 21, now=at(1))


def test_post_counts_characters_not_bytes() -> None:
    # Given a chat whose messages may be 5 characters long
    chat = new_chat("free", settings=ChatSettings(max_message_length=5))

    # When Alice posts five multi-byte characters
    chat = post(chat, OWNER, "héllo")
    chat = post(chat, OWNER, "🙂🙂🙂🙂🙂", now=at(1))

    # Then both are accepted
    assert chat.last_message_sequence == 2


def test_post_is_refused_in_a_completed_chat() -> None:
    # Given a completed chat
    chat = complete(new_chat("free"), user_id=OWNER).chat

    # When its owner posts
    # Then the chat refuses, with the stable code the API maps
    with pytest.raises(ChatCompletedError) as excinfo:
        post(chat, OWNER)
    assert excinfo.value.code == "chat_completed"


def test_post_is_refused_to_non_members() -> None:
    # Given a chat Bob is not part of
    chat = new_chat("free")

    # When Bob posts
    # Then he is forbidden
    with pytest.raises(ForbiddenError):
        post(chat, BOB)


def test_round_robin_refuses_a_post_out_of_turn() -> None:
    # Given a round-robin chat where Alice holds the turn
    chat = with_members(new_chat("round_robin"), BOB)
    assert chat.turn.holder_id == OWNER

    # When Bob posts
    # Then he is refused, told who holds the floor and which turn it is
    with pytest.raises(NotYourTurnError) as excinfo:
        post(chat, BOB)
    assert excinfo.value.details == {"turn_holder_id": OWNER, "turn_number": 1}


def test_round_robin_post_consumes_the_turn_so_the_holder_cannot_post_twice() -> None:
    # Given a round-robin chat where Alice holds the turn
    chat = with_members(new_chat("round_robin"), BOB)

    # When Alice posts
    outcome = post_message(
        chat, sender_id=OWNER, text="first", client_message_id=None, message_id="m-1", now=at(5)
    )

    # Then the message is stored in turn 1, the turn is consumed, and Alice cannot post again
    stored = outcome.events[0]
    assert isinstance(stored, MessageStored)
    assert (stored.turn_mode, stored.turn_number) == ("round_robin", 1)
    assert outcome.chat.turn.consumed is True
    assert outcome.chat.turn.holder_id == OWNER
    with pytest.raises(NotYourTurnError):
        post(outcome.chat, OWNER, "second", now=at(6))
    # And Bob cannot post either until the turns handler moves the floor to him
    with pytest.raises(NotYourTurnError):
        post(outcome.chat, BOB, now=at(6))
    moved = advance_turn(outcome.chat, now=at(7)).chat
    assert post(moved, BOB, now=at(8)).last_message_sequence == 2


def test_rate_limit_refuses_the_eleventh_message_within_ten_seconds() -> None:
    # Given Alice posted ten messages in five seconds in a free chat (default limit: 10 in 10 s)
    chat = with_members(new_chat("free"), BOB)
    for i in range(10):
        chat = post(chat, OWNER, f"m{i}", now=at(i * 0.5), n=i)

    # When she posts an eleventh at t=5 s
    # Then she is rate limited until her oldest message leaves the window
    with pytest.raises(RateLimitedError) as excinfo:
        post(chat, OWNER, "one too many", now=at(5))
    assert excinfo.value.retry_after == 5
    assert excinfo.value.details == {"retry_after": 5}
    assert excinfo.value.code == "rate_limited"
    # And the limit is per member: Bob may still post
    assert post(chat, BOB, now=at(5)).last_message_sequence == 11


def test_rate_limit_lifts_once_the_window_has_passed() -> None:
    # Given Alice posted ten messages in the first five seconds
    chat = new_chat("free")
    for i in range(10):
        chat = post(chat, OWNER, f"m{i}", now=at(i * 0.5), n=i)

    # When she posts just before and exactly when the first message leaves the 10 s window
    with pytest.raises(RateLimitedError) as excinfo:
        post(chat, OWNER, now=at(9.9))
    after = post(chat, OWNER, now=at(10))

    # Then the early attempt is refused (retry in 1 s) and the later one accepted
    assert excinfo.value.retry_after == 1
    assert after.last_message_sequence == 11
    # And only the posts still inside the window are remembered
    assert len(after.recent_posts[OWNER]) == 10
    assert min(after.recent_posts[OWNER]) == at(0.5).timestamp()


@pytest.mark.parametrize("first", [0.0, 0.3, 0.99])
def test_retry_after_is_the_shortest_whole_wait_that_succeeds(first: float) -> None:
    # Given Alice posted ten messages starting at `first` seconds
    chat = new_chat("free")
    for i in range(10):
        chat = post(chat, OWNER, f"m{i}", now=at(first + i * 0.4), n=i)

    # When she is refused at t=5 s
    attempt = 5.0
    with pytest.raises(RateLimitedError) as excinfo:
        post(chat, OWNER, now=at(attempt))
    retry_after = excinfo.value.retry_after

    # Then retry_after rounds the remaining window up, waiting that long succeeds, a second less fails
    assert retry_after == math.ceil(first + 10 - attempt)
    assert post(chat, OWNER, now=at(attempt + retry_after)).last_message_sequence == 11
    with pytest.raises(RateLimitedError):
        post(chat, OWNER, now=at(attempt + retry_after - 1))


def test_rate_limit_follows_the_chats_settings() -> None:
    # Given a chat allowing 2 messages per 60 s
    chat = new_chat("free", settings=ChatSettings(rate_limit_messages=2, rate_limit_window_seconds=60))
    chat = post(chat, OWNER, now=at(0), n=1)
    chat = post(chat, OWNER, now=at(1), n=2)

    # When a third message is posted 30 s later
    # Then it is refused with 30 s to wait
    with pytest.raises(RateLimitedError) as excinfo:
        post(chat, OWNER, now=at(30))
    assert excinfo.value.retry_after == 30


# --------------------------------------------------------------------------------------------------
# change_settings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", [BOB, "user-stranger", "ai-bot"])
def test_only_owners_and_moderators_change_settings(user_id: str) -> None:
    # Given a chat with a plain member and an AI participant
    chat = with_members(new_chat("free", ais=["ai-bot"]), BOB)

    # When someone else than a moderator changes the settings
    # Then they are forbidden
    with pytest.raises(ForbiddenError):
        change_settings(chat, user_id=user_id, changes={"max_message_length": 10}, now=at(5))


def test_a_moderator_may_change_settings() -> None:
    # Given Bob was made a moderator
    chat = with_role(with_members(new_chat("free"), BOB), BOB, "moderator")

    # When he changes a setting
    outcome = change_settings(chat, user_id=BOB, changes={"max_message_length": 100}, now=at(5))

    # Then the change applies
    assert outcome.chat.settings.max_message_length == 100


def test_settings_change_announces_only_the_fields_that_changed() -> None:
    # Given a round-robin chat with default settings
    chat = new_chat("round_robin")
    changes: dict[str, Any] = {
        "max_message_length": 500,
        "rate_limit_messages": 10,
        "turn_mode": "round_robin",
    }

    # When the owner sends one real change among unchanged values
    outcome = change_settings(chat, user_id=OWNER, changes=changes, now=at(5))

    # Then only the real change is in the diff, the full settings ride along, and the turn is untouched
    assert len(outcome.events) == 1
    changed = outcome.events[0]
    assert isinstance(changed, ChatSettingsChanged)
    assert changed.changes == {"max_message_length": 500}
    assert changed.changed_by == OWNER
    assert changed.turn_mode == "round_robin"
    assert changed.settings == outcome.chat.settings.model_dump()
    assert outcome.chat.settings.max_message_length == 500
    assert outcome.chat.turn == chat.turn
    # And the caller's mapping was not consumed
    assert changes["turn_mode"] == "round_robin"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="empty"),
        pytest.param({"max_message_length": 4000}, id="same-value"),
        pytest.param({"turn_mode": "round_robin", "rate_limit_window_seconds": 10}, id="same-mode"),
    ],
)
def test_settings_change_without_effect_is_a_no_op(changes: dict[str, Any]) -> None:
    # Given a round-robin chat with default settings
    chat = new_chat("round_robin")

    # When the owner "changes" nothing
    outcome = change_settings(chat, user_id=OWNER, changes=changes, now=at(5))

    # Then the chat is unchanged and nothing is announced
    assert outcome.chat == chat
    assert outcome.events == ()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"max_message_length": 0}, id="below-minimum"),
        pytest.param({"rate_limit_window_seconds": 7200}, id="above-maximum"),
        pytest.param({"colour": "blue"}, id="unknown-setting"),
        pytest.param({"turn_mode": "chaos"}, id="unknown-mode"),
    ],
)
def test_invalid_settings_are_refused(changes: dict[str, Any]) -> None:
    # Given a chat
    chat = new_chat("round_robin")

    # When the owner sends an invalid change
    # Then it is refused as an invalid request
    with pytest.raises(InvalidRequestError):
        change_settings(chat, user_id=OWNER, changes=changes, now=at(5))


def test_switching_to_free_clears_the_turn_holder() -> None:
    # Given Bob holds the turn in a round-robin chat
    chat = with_turn(with_members(new_chat("round_robin"), BOB), BOB, turn_number=3)

    # When the owner switches to free
    outcome = change_settings(chat, user_id=OWNER, changes={"turn_mode": "free"}, now=at(5))

    # Then the diff names the mode, nobody holds the floor, and the move is announced as mode_changed
    settings_changed, turn_changed = outcome.events
    assert isinstance(settings_changed, ChatSettingsChanged)
    assert settings_changed.changes == {"turn_mode": "free"}
    assert isinstance(turn_changed, TurnChanged)
    assert (turn_changed.holder_id, turn_changed.previous_holder_id) == (None, BOB)
    assert (turn_changed.reason, turn_changed.turn_mode, turn_changed.turn_number) == (
        "mode_changed",
        "free",
        4,
    )
    assert outcome.chat.turn_mode == "free"
    assert outcome.chat.turn.holder_id is None
    # And everyone may post again
    assert post(outcome.chat, OWNER, now=at(6)).last_message_sequence == 1


def test_switching_to_round_robin_gives_the_floor_to_the_first_member() -> None:
    # Given a free chat of Alice and Bob
    chat = with_members(new_chat("free"), BOB)

    # When the owner switches to round robin
    outcome = change_settings(chat, user_id=OWNER, changes={"turn_mode": "round_robin"}, now=at(5))

    # Then the earliest member holds the first turn
    turn_changed = outcome.events[-1]
    assert isinstance(turn_changed, TurnChanged)
    assert (turn_changed.holder_id, turn_changed.reason, turn_changed.turn_number) == (
        OWNER,
        "mode_changed",
        1,
    )
    assert outcome.chat.turn.holder_id == OWNER
    with pytest.raises(NotYourTurnError):
        post(outcome.chat, BOB, now=at(6))


def test_settings_of_a_completed_chat_cannot_change() -> None:
    # Given a completed chat
    chat = complete(new_chat("free"), user_id=OWNER).chat

    # When the owner changes a setting
    # Then the chat refuses
    with pytest.raises(ChatCompletedError):
        change_settings(chat, user_id=OWNER, changes={"max_message_length": 10}, now=at(5))


# --------------------------------------------------------------------------------------------------
# complete
# --------------------------------------------------------------------------------------------------


def test_owner_completes_the_chat() -> None:
    # Given an active chat
    chat = new_chat("round_robin")

    # When the owner completes it
    outcome = complete(chat, user_id=OWNER)

    # Then it is completed and that is announced
    assert outcome.chat.status == "completed"
    assert outcome.events == (ChatCompleted(completed_by=OWNER),)


def test_complete_is_idempotent() -> None:
    # Given a chat its owner already completed
    chat = complete(new_chat("free"), user_id=OWNER).chat

    # When it is completed again
    outcome = complete(chat, user_id=OWNER)

    # Then nothing changes and nothing is announced twice
    assert outcome.chat == chat
    assert outcome.events == ()


@pytest.mark.parametrize("user_id", [BOB, "user-stranger", "ai-bot"])
def test_only_owners_and_moderators_complete_a_chat(user_id: str) -> None:
    # Given a chat with a plain member and an AI participant
    chat = with_members(new_chat("free", ais=["ai-bot"]), BOB)

    # When someone else completes it
    # Then they are forbidden and the chat stays active
    with pytest.raises(ForbiddenError):
        complete(chat, user_id=user_id)


def test_a_moderator_completes_the_chat() -> None:
    # Given Bob is a moderator
    chat = with_role(with_members(new_chat("free"), BOB), BOB, "moderator")

    # When he completes the chat
    outcome = complete(chat, user_id=BOB)

    # Then it is completed in his name
    assert outcome.chat.status == "completed"
    assert outcome.events == (ChatCompleted(completed_by=BOB),)


def test_advance_turn_wraps_reconcile_turn() -> None:
    # Given Alice consumed her turn in a round-robin chat with Bob
    chat = post(with_members(new_chat("round_robin"), BOB), OWNER, now=at(3))

    # When the turn is advanced twice (a duplicate trigger)
    first = advance_turn(chat, now=at(4))
    second = advance_turn(first.chat, now=at(5))

    # Then the floor moves to Bob once, announced once
    assert first.chat.turn.holder_id == BOB
    assert [type(e) for e in first.events] == [TurnChanged]
    assert second.events == ()
    assert second.chat == first.chat


def test_post_times_older_than_the_window_are_dropped_for_everyone() -> None:
    # Given Bob posted long ago and then left
    chat = post(with_members(new_chat("free"), BOB), BOB, now=at(2))
    chat = leave(chat, user_id=BOB).chat

    # When the owner posts after the rate-limit window has passed
    later = post(chat, OWNER, now=at(2 + chat.settings.rate_limit_window_seconds + 1))

    # Then Bob's stale entry is gone, so the chat item does not grow with every past member
    assert set(later.recent_posts) == {OWNER}
