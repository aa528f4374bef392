"""Alternating and moderated turns, time-outs and AI requests, as pure decisions on chat state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.catalog import (
    AIResponseCompleted,
    AIResponseFailed,
    AIResponseRequested,
    MessageStored,
    TurnChanged,
)
from parley.domain.commands import (
    advance_turn,
    change_settings,
    complete,
    expire_turn,
    fail_ai_response,
    grant_turn,
    join,
    leave,
    mentions,
    post_ai_reply,
    post_message,
)
from parley.domain.model import AIProfile, Chat, ChatSettings, InvocationPolicy
from parley.domain.turns import chair, may_post, reconcile_turn, turn_deadline
from parley.errors import ForbiddenError, InvalidRequestError
from tests.unit.chats import OWNER, T0, at, new_chat, with_members, with_role

BOB = "user-bob"
CAROL = "user-carol"
TIMEOUT = ChatSettings().turn_timeout_seconds


def post(chat: Chat, sender: str, now: datetime, text: str = "hi") -> Chat:
    return post_message(
        chat, sender_id=sender, text=text, client_message_id=None, message_id=str(now), now=now
    ).chat


def settle(chat: Chat, now: datetime) -> Chat:
    """What the turns handler does after any trigger."""
    return reconcile_turn(chat, now)[0]


def reply(chat: Chat, ai_id: str, now: datetime) -> Chat:
    return post_ai_reply(
        chat,
        participant_id=ai_id,
        request_id=f"r-{now.timestamp()}",
        text="beep",
        message_id=f"ai-{now.timestamp()}",
        now=now,
        time_to_first_token_ms=1,
        duration_ms=2,
        input_tokens=3,
        output_tokens=4,
    ).chat


# --------------------------------------------------------------------------------------------------
# alternating
# --------------------------------------------------------------------------------------------------


def test_alternating_goes_person_then_each_ai_then_the_next_person() -> None:
    # Given an alternating chat: Alice, two AIs, then Bob
    chat = with_members(new_chat("alternating", ais=["ai-a", "ai-b"]), BOB)
    holders = [chat.turn.holder_id]

    # When every holder takes their turn, for two rounds
    for i in range(8):
        holder = chat.turn.holder_id
        assert holder is not None
        now = at(10 + i)
        chat = reply(chat, holder, now) if holder.startswith("ai-") else post(chat, holder, now)
        chat = settle(chat, now)
        holders.append(chat.turn.holder_id)

    # Then a person, both AIs in join order, the other person, both AIs, and so on
    assert holders == [OWNER, "ai-a", "ai-b", BOB, "ai-a", "ai-b", OWNER, "ai-a", "ai-b"]


def test_alternating_without_ai_participants_is_round_robin_among_people() -> None:
    # Given an alternating chat of three people
    chat = with_members(new_chat("alternating"), BOB, CAROL)

    # When Alice and then Bob post
    chat = settle(post(chat, OWNER, at(10)), at(10))
    after_alice = chat.turn.holder_id
    chat = settle(post(chat, BOB, at(11)), at(11))

    # Then the floor goes round in join order
    assert (after_alice, chat.turn.holder_id) == (BOB, CAROL)


def test_alternating_passes_from_an_ai_who_left_to_the_next_ai() -> None:
    # Given the first of two AIs holds the floor after Alice posted, and is removed from the chat
    chat = settle(post(new_chat("alternating", ais=["ai-a", "ai-b"]), OWNER, at(10)), at(10))
    assert chat.turn.holder_id == "ai-a"
    chat = chat.model_copy(update={"participants": tuple(p for p in chat.participants if p.id != "ai-a")})

    # When the turn is reconciled
    after, event = reconcile_turn(chat, at(11))

    # Then the second AI holds it
    assert event is not None
    assert (after.turn.holder_id, event.reason) == ("ai-b", "left")


def test_ais_with_nothing_new_are_skipped_so_ais_never_talk_among_themselves() -> None:
    # Given a round-robin chat of Alice and two AIs, where Alice's turn times out before she posts
    chat = new_chat("round_robin", ais=["ai-a", "ai-b"])
    deadline = turn_deadline(chat)
    assert deadline is not None

    # When the sweeper expires her turn
    outcome = expire_turn(chat, now=deadline)

    # Then no AI is handed a floor it has nothing to say on: Alice gets a fresh turn, nobody is asked
    changed = outcome.events
    assert [type(e) for e in changed] == [TurnChanged]
    assert outcome.chat.turn.holder_id == OWNER


# --------------------------------------------------------------------------------------------------
# moderated
# --------------------------------------------------------------------------------------------------


def moderated_chat() -> Chat:
    return with_members(new_chat("moderated", ais=["ai-a"]), BOB, CAROL)


def test_a_moderated_chat_rests_with_its_chair_and_the_chair_never_times_out() -> None:
    # Given a moderated chat created by Alice
    chat = moderated_chat()

    # When nobody does anything
    # Then Alice (the chair) holds the floor with no deadline, and only she may post
    chair_member = chair(chat)
    assert chair_member is not None
    assert chat.turn.holder_id == chair_member.id == OWNER
    assert turn_deadline(chat) is None
    assert [p.id for p in chat.participants if may_post(chat, p.id)] == [OWNER]


def test_a_moderator_grants_the_floor_and_it_returns_to_the_chair_after_the_post() -> None:
    # Given a moderated chat
    chat = moderated_chat()

    # When Alice gives Bob the floor, and Bob posts
    granted = grant_turn(chat, user_id=OWNER, participant_id=BOB, now=at(10))
    after_post = settle(post(granted.chat, BOB, at(11)), at(11))

    # Then Bob held it (reason granted) with a deadline, and it came back to Alice
    (event,) = granted.events
    assert isinstance(event, TurnChanged)
    assert (event.holder_id, event.previous_holder_id, event.reason) == (BOB, OWNER, "granted")
    assert turn_deadline(granted.chat) == at(10) + timedelta(seconds=TIMEOUT)
    assert after_post.turn.holder_id == OWNER


def test_granting_the_floor_to_an_ai_asks_it_to_answer() -> None:
    # Given a moderated chat where Alice has posted
    chat = settle(post(moderated_chat(), OWNER, at(5)), at(5))

    # When Alice gives the floor to the AI
    outcome = grant_turn(chat, user_id=OWNER, participant_id="ai-a", now=at(10))

    # Then the grant and a turn request for the AI are decided together
    turn_changed, requested = outcome.events
    assert isinstance(turn_changed, TurnChanged)
    assert isinstance(requested, AIResponseRequested)
    assert (requested.participant_id, requested.trigger) == ("ai-a", "turn")
    assert requested.request_id == f"turn-{turn_changed.turn_number}-ai-a"


def test_granting_twice_is_a_no_op() -> None:
    # Given Bob was given the floor
    chat = grant_turn(moderated_chat(), user_id=OWNER, participant_id=BOB, now=at(10)).chat

    # When the same grant is retried
    again = grant_turn(chat, user_id=OWNER, participant_id=BOB, now=at(11))

    # Then nothing changes and nothing is announced
    assert again.chat == chat
    assert again.events == ()


def test_a_granted_moderator_can_grant_too() -> None:
    # Given Bob was made a moderator
    chat = with_role(moderated_chat(), BOB, "moderator")

    # When Bob gives Carol the floor
    outcome = grant_turn(chat, user_id=BOB, participant_id=CAROL, now=at(10))

    # Then Carol holds it
    assert outcome.chat.turn.holder_id == CAROL


@pytest.mark.parametrize(
    ("chat", "user", "target", "error"),
    [
        pytest.param(moderated_chat(), BOB, CAROL, ForbiddenError, id="member-not-moderator"),
        pytest.param(moderated_chat(), OWNER, "user-nobody", InvalidRequestError, id="not-a-member"),
        pytest.param(
            with_members(new_chat("round_robin"), BOB), OWNER, BOB, InvalidRequestError, id="not-moderated"
        ),
        pytest.param(moderated_chat(), "ai-a", BOB, ForbiddenError, id="an-ai"),
    ],
)
def test_grants_are_refused_when_not_allowed(
    chat: Chat, user: str, target: str, error: type[Exception]
) -> None:
    # Given a chat and a caller who may not give this floor
    # When they try
    # Then it is refused and nothing changes
    with pytest.raises(error):
        grant_turn(chat, user_id=user, participant_id=target, now=at(10))


def test_the_chair_leaving_hands_the_resting_floor_to_the_next_moderator() -> None:
    # Given Carol is a moderator too, and Alice (the chair) leaves
    chat = leave(with_role(moderated_chat(), CAROL, "moderator"), user_id=OWNER).chat

    # When the turn is reconciled
    after = settle(chat, at(10))

    # Then Carol, the remaining moderator, is the chair and holds the floor
    assert after.turn.holder_id == CAROL


# --------------------------------------------------------------------------------------------------
# time-outs
# --------------------------------------------------------------------------------------------------


def test_an_untaken_turn_moves_on_at_its_deadline_and_not_before() -> None:
    # Given Bob holds a round-robin turn that started at T+10
    chat = settle(post(with_members(new_chat("round_robin"), BOB, CAROL), OWNER, at(10)), at(10))
    assert chat.turn.holder_id == BOB

    # When the sweeper looks just before and at the deadline
    early = expire_turn(chat, now=at(10 + TIMEOUT - 1))
    due = expire_turn(chat, now=at(10 + TIMEOUT))

    # Then nothing moves early; at the deadline Carol gets the floor (reason timeout)
    assert early.events == ()
    (event,) = due.events
    assert isinstance(event, TurnChanged)
    assert (event.holder_id, event.previous_holder_id, event.reason) == (CAROL, BOB, "timeout")


def test_a_granted_turn_that_times_out_returns_to_the_chair() -> None:
    # Given Alice gave Bob the floor in a moderated chat
    chat = grant_turn(moderated_chat(), user_id=OWNER, participant_id=BOB, now=at(10)).chat

    # When Bob lets the deadline pass
    outcome = expire_turn(chat, now=at(10 + TIMEOUT))

    # Then the floor rests with Alice again
    assert outcome.chat.turn.holder_id == OWNER
    assert turn_deadline(outcome.chat) is None


def test_the_deadline_backs_off_after_each_silent_round() -> None:
    # Given a round-robin chat of two people who never post
    chat = with_members(new_chat("round_robin"), BOB)
    gaps = []

    # When the sweeper expires turn after turn
    for _ in range(8):
        deadline = turn_deadline(chat)
        assert deadline is not None
        assert chat.turn.since is not None
        gaps.append((deadline - chat.turn.since).total_seconds() / TIMEOUT)
        chat = expire_turn(chat, now=deadline).chat

    # Then the first round is at the normal pace and each further silent round doubles it
    assert gaps == [1, 1, 2, 2, 4, 4, 8, 8]
    # And a post resets the pace
    holder = chat.turn.holder_id
    assert holder is not None
    posted = settle(post(chat, holder, at(100_000)), at(100_000))
    assert turn_deadline(posted) == at(100_000) + timedelta(seconds=TIMEOUT)


def test_a_consumed_turn_the_handler_never_moved_is_repaired_as_a_message_move() -> None:
    # Given Alice posted but the turns handler never ran
    chat = post(with_members(new_chat("round_robin"), BOB), OWNER, at(10))

    # When the sweeper finds the deadline passed
    outcome = expire_turn(chat, now=at(TIMEOUT + 1))

    # Then the floor moves as the handler would have moved it, not as a time-out
    (event,) = outcome.events
    assert isinstance(event, TurnChanged)
    assert (event.holder_id, event.reason) == (BOB, "message")


def test_no_deadline_in_free_or_completed_chats() -> None:
    # Given a free chat and a completed round-robin chat
    free = new_chat("free")
    done = complete(new_chat("round_robin"), user_id=OWNER).chat

    # When their deadlines are asked for
    # Then neither has one, so neither is ever in the sweeper's index
    assert turn_deadline(free) is None
    assert turn_deadline(done) is None


# --------------------------------------------------------------------------------------------------
# AI requests
# --------------------------------------------------------------------------------------------------


def free_chat_with(invocation: InvocationPolicy | None) -> Chat:
    profile = AIProfile(persona="p", invocation=invocation)
    chat = new_chat("free")
    oracle = chat.participants[0].model_copy(
        update={
            "id": "oracle",
            "name": "Oracle",
            "kind": "ai",
            "role": "member",
            "ai": profile,
            "joined_at": at(1),
        }
    )
    return chat.model_copy(update={"participants": (*chat.participants, oracle)})


@pytest.mark.parametrize(
    ("invocation", "text", "asked"),
    [
        pytest.param(None, "hello @Oracle, thoughts?", "mention", id="default-mention"),
        pytest.param(None, "hello @oracle", "mention", id="case-insensitive"),
        pytest.param(None, "hello everyone", None, id="default-not-mentioned"),
        pytest.param(None, "mail me at x@Oracle.com", None, id="inside-an-address"),
        pytest.param(None, "hello @Oracles", None, id="longer-word"),
        pytest.param("always", "hello everyone", "always", id="always"),
        pytest.param("on_turn", "@Oracle?", "mention", id="on-turn-in-free-answers-mentions"),
    ],
)
def test_a_persons_message_in_a_free_chat_asks_the_ai_per_its_policy(
    invocation: InvocationPolicy | None, text: str, asked: str | None
) -> None:
    # Given a free chat with an AI participant and an invocation policy
    chat = free_chat_with(invocation)

    # When Alice posts
    outcome = post_message(
        chat, sender_id=OWNER, text=text, client_message_id=None, message_id="m-1", now=at(5)
    )

    # Then the AI is asked (with the trigger) exactly when its policy says so
    requests = [e for e in outcome.events if isinstance(e, AIResponseRequested)]
    assert [r.trigger for r in requests] == ([asked] if asked else [])
    if requests:
        assert (requests[0].request_id, requests[0].after_message_sequence) == ("msg-1-oracle", 1)


def test_an_ai_reply_never_asks_an_ai() -> None:
    # Given a free chat whose AI always answers
    chat = free_chat_with("always")

    # When the AI posts its reply
    outcome = post_ai_reply(
        chat,
        participant_id="oracle",
        request_id="r-1",
        text="@Oracle says hi",
        message_id="m-1",
        now=at(5),
        time_to_first_token_ms=10,
        duration_ms=20,
        input_tokens=30,
        output_tokens=40,
    )

    # Then the reply and its completion record are stored together, and nobody is asked to answer it
    stored, completed = outcome.events
    assert isinstance(stored, MessageStored)
    assert isinstance(completed, AIResponseCompleted)
    assert (completed.message_id, completed.message_sequence, completed.output_tokens) == ("m-1", 1, 40)
    assert stored.message.client_message_id == "r-1"


def test_mentions_match_whole_names_only() -> None:
    # Given names with spaces and punctuation
    # When texts mention them or not
    # Then only a whole @Name counts
    assert mentions("hey @Deep Thought, well?", "Deep Thought")
    assert not mentions("hey @Deep Thoughts", "Deep Thought")
    assert mentions("(@Oracle)", "Oracle")


def test_a_failed_ai_turn_moves_on_with_reason_ai_failed() -> None:
    # Given Alice posted in a round-robin chat, so the AI holds the floor and was asked
    chat = new_chat("round_robin", ais=["ai-a"])
    posted = post(chat, OWNER, at(5))
    moved = advance_turn(posted, now=at(5))
    assert [type(e) for e in moved.events] == [TurnChanged, AIResponseRequested]

    # When the AI's reply fails
    outcome = fail_ai_response(
        moved.chat, participant_id="ai-a", request_id="r", reason="throttled", detail="slow down", now=at(6)
    )

    # Then the failure is recorded and the floor passes back to Alice (reason ai_failed), once
    failed, turn_changed = outcome.events
    assert isinstance(failed, AIResponseFailed)
    assert failed.reason == "throttled"
    assert isinstance(turn_changed, TurnChanged)
    assert (turn_changed.holder_id, turn_changed.reason) == (OWNER, "ai_failed")
    again = fail_ai_response(
        outcome.chat, participant_id="ai-a", request_id="r", reason="throttled", detail="slow down", now=at(7)
    )
    assert [type(e) for e in again.events] == [AIResponseFailed]


def test_a_failed_whispered_reply_fails_for_the_whispers_people_only_and_keeps_the_turn() -> None:
    # Given the AI holds the floor of a round-robin chat (a free chat's whisper asked it earlier)
    chat = new_chat("round_robin", ais=["ai-a"])
    moved = advance_turn(post(chat, OWNER, at(5)), now=at(5))

    # When the reply to that whisper (to Alice) fails
    outcome = fail_ai_response(
        moved.chat,
        participant_id="ai-a",
        request_id="r",
        reason="throttled",
        detail="x",
        now=at(6),
        to=[OWNER],
    )

    # Then only the AI and Alice may see the failure, and the floor stays with the AI's own turn
    assert [type(e) for e in outcome.events] == [AIResponseFailed]
    assert outcome.audience == ("ai-a", OWNER)
    assert outcome.chat.turn == moved.chat.turn


def test_switching_to_round_robin_on_an_ai_turn_asks_nobody_without_news() -> None:
    # Given a free chat where nobody has said anything
    chat = new_chat("free", ais=["ai-a"])

    # When the owner switches to round robin
    outcome = change_settings(chat, user_id=OWNER, changes={"turn_mode": "round_robin"}, now=at(5))

    # Then Alice holds the first turn and no AI is asked
    assert outcome.chat.turn.holder_id == OWNER
    assert not [e for e in outcome.events if isinstance(e, AIResponseRequested)]


# --------------------------------------------------------------------------------------------------
# Property: any sequence of joins, leaves, posts, grants, failures and time-outs keeps one holder
# --------------------------------------------------------------------------------------------------

operations = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "post", "timeout", "grant", "ai_failed", "duplicate"]),
        st.integers(min_value=0, max_value=50),
        st.booleans(),
    ),
    max_size=40,
)


@dataclass
class World:
    """The chat as the operations leave it, and the clock they share."""

    chat: Chat
    mode: str
    now: datetime
    newcomers: int = 0


def op_join(w: World, _: int) -> None:
    w.chat = join(w.chat, user_id=f"user-{w.newcomers}", name=f"User {w.newcomers}", now=w.now).chat
    w.newcomers += 1


def op_leave(w: World, pick: int) -> None:
    humans = [p.id for p in w.chat.participants if p.kind == "human"]
    if humans:
        w.chat = leave(w.chat, user_id=humans[pick % len(humans)]).chat


def op_post(w: World, _: int) -> None:
    holder = w.chat.turn.holder_id
    if holder is not None and w.chat.member(holder) is not None and may_post(w.chat, holder):
        w.chat = post(w.chat, holder, w.now)


def op_timeout(w: World, _: int) -> None:
    deadline = turn_deadline(w.chat)
    if deadline is not None:
        w.now = max(w.now, deadline)
        w.chat = expire_turn(w.chat, now=w.now).chat


def op_grant(w: World, pick: int) -> None:
    members = [p.id for p in w.chat.participants]
    moderator = chair(w.chat) if w.mode == "moderated" and members else None
    if moderator is not None:
        w.chat = grant_turn(
            w.chat, user_id=moderator.id, participant_id=members[pick % len(members)], now=w.now
        ).chat


def op_ai_failed(w: World, _: int) -> None:
    holder = w.chat.turn.holder_id
    if holder and holder.startswith("ai-"):
        w.chat = fail_ai_response(
            w.chat, participant_id=holder, request_id="r", reason="timeout", detail="x", now=w.now
        ).chat


def op_duplicate(w: World, _: int) -> None:
    assert reconcile_turn(settle(w.chat, w.now), w.now)[1] is None


OPERATIONS: dict[str, Callable[[World, int], None]] = {
    "join": op_join,
    "leave": op_leave,
    "post": op_post,
    "timeout": op_timeout,
    "grant": op_grant,
    "ai_failed": op_ai_failed,
    "duplicate": op_duplicate,
}


def assert_one_holder_and_not_stuck(chat: Chat, mode: str) -> None:
    # Then exactly one current member holds an untaken turn whenever there are members
    if not chat.participants:
        assert chat.turn.holder_id is None
        return
    current = chat.member(chat.turn.holder_id) if chat.turn.holder_id else None
    assert current is not None, chat.turn
    assert [p.id for p in chat.participants if may_post(chat, p.id)] == [current.id]
    # And the chat is never stuck: the turn can time out, unless it rests with a moderated chair
    resting = chair(chat)
    assert turn_deadline(chat) is not None or (
        mode == "moderated" and resting is not None and current.id == resting.id
    )


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from(["round_robin", "alternating", "moderated"]),
    ai_count=st.integers(min_value=0, max_value=2),
    ops=operations,
)
def test_any_sequence_leaves_exactly_one_holder_and_never_a_stuck_chat(
    mode: str, ai_count: int, ops: list[tuple[str, int, bool]]
) -> None:
    # Given a strict-mode chat, with or without AI participants
    world = World(new_chat(mode, ais=[f"ai-{i}" for i in range(ai_count)]), mode, T0)  # type: ignore[arg-type]
    last_turn_number = world.chat.turn.turn_number

    for op, pick, handler_runs in ops:
        world.now += timedelta(seconds=2)
        # When anything happens, in any order, with the handler late or repeating itself...
        OPERATIONS[op](world, pick)
        if not handler_runs:
            continue

        # ...and the turns handler reconciles
        world.chat = chat = settle(world.chat, world.now)
        assert_one_holder_and_not_stuck(chat, mode)
        # And turn numbers never go back, and handling a trigger again changes nothing
        assert chat.turn.turn_number >= last_turn_number
        last_turn_number = chat.turn.turn_number
        assert reconcile_turn(chat, world.now + timedelta(seconds=1)) == (chat, None)
