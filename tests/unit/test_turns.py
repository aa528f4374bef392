"""Who holds the floor: reconcile_turn derives it from chat state, so any trigger may repeat."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from parley.catalog import TurnChanged
from parley.domain.commands import complete, join, leave, post_message
from parley.domain.model import Chat
from parley.domain.turns import may_post, reconcile_turn
from tests.unit.chats import OWNER, T0, at, join_order, new_chat, with_members, with_turn

BOB = "user-bob"
CAROL = "user-carol"
DAVE = "user-dave"


def four_member_chat() -> Chat:
    """Round robin; join order Alice, Bob, Carol, Dave."""
    return with_members(new_chat("round_robin"), BOB, CAROL, DAVE)


def reconciled(chat: Chat, seconds: float = 100) -> tuple[Chat, TurnChanged]:
    after, event = reconcile_turn(chat, at(seconds))
    assert event is not None
    return after, event


# --------------------------------------------------------------------------------------------------
# may_post
# --------------------------------------------------------------------------------------------------


def test_anyone_may_post_in_a_free_chat() -> None:
    # Given a free chat of Alice and Bob
    chat = with_members(new_chat("free"), BOB)

    # When each asks whether they may post
    # Then both may, even though nobody holds the floor
    assert may_post(chat, OWNER)
    assert may_post(chat, BOB)


def test_only_the_unconsumed_holder_may_post_in_round_robin() -> None:
    # Given Bob holds the turn
    chat = with_turn(four_member_chat(), BOB)

    # When everyone asks, before and after Bob has posted
    consumed = with_turn(chat, BOB, consumed=True)

    # Then only Bob may, and only until he has posted
    assert [u for u in join_order(chat) if may_post(chat, u)] == [BOB]
    assert [u for u in join_order(consumed) if may_post(consumed, u)] == []


# --------------------------------------------------------------------------------------------------
# reconcile_turn
# --------------------------------------------------------------------------------------------------


def test_consumed_turn_passes_to_the_next_member_in_join_order() -> None:
    # Given Bob posted in his turn 7
    chat = with_turn(four_member_chat(), BOB, consumed=True, turn_number=7)

    # When the turn is reconciled
    after, event = reconciled(chat, 100)

    # Then Carol, who joined next, holds turn 8, unconsumed since now
    turn = after.turn
    assert (turn.holder_id, turn.turn_number, turn.consumed, turn.since) == (CAROL, 8, False, at(100))
    carol = after.member(CAROL)
    assert carol is not None
    assert turn.holder_joined_at == carol.joined_at
    assert event == TurnChanged(
        turn_mode="round_robin", holder_id=CAROL, previous_holder_id=BOB, turn_number=8, reason="message"
    )
    # And nothing but the turn changed
    assert after.model_copy(update={"turn": chat.turn}) == chat


def test_consumed_turn_of_the_last_member_wraps_to_the_first() -> None:
    # Given Dave, the last to join, posted in his turn
    chat = with_turn(four_member_chat(), DAVE, consumed=True, turn_number=4)

    # When the turn is reconciled
    after, event = reconciled(chat)

    # Then the floor wraps round to Alice
    assert after.turn.holder_id == OWNER
    assert (event.previous_holder_id, event.reason) == (DAVE, "message")


def test_a_full_round_visits_every_member_once_in_join_order() -> None:
    # Given a round-robin chat whose members joined in a known order
    chat = four_member_chat()
    holders = [chat.turn.holder_id]

    # When each holder in turn posts and the turn is reconciled, for two rounds
    for i in range(8):
        holder = chat.turn.holder_id
        assert holder is not None
        chat = post_message(
            chat, sender_id=holder, text="x", client_message_id=None, message_id=f"m-{i}", now=at(10 + i)
        ).chat
        chat, _ = reconciled(chat, 10.5 + i)
        holders.append(chat.turn.holder_id)

    # Then the floor cycles through the join order, one turn per post
    assert holders == [OWNER, BOB, CAROL, DAVE] * 2 + [OWNER]
    assert chat.turn.turn_number == 9


def test_sole_member_gets_a_fresh_turn_after_posting() -> None:
    # Given Alice is alone and has posted
    chat = with_turn(new_chat("round_robin"), OWNER, consumed=True, turn_number=1)

    # When the turn is reconciled
    after, event = reconciled(chat)

    # Then she holds a new, unconsumed turn
    assert (after.turn.holder_id, after.turn.turn_number, after.turn.consumed) == (OWNER, 2, False)
    assert (event.previous_holder_id, event.reason) == (OWNER, "message")


def test_holder_who_left_is_succeeded_by_whoever_joined_after_them() -> None:
    # Given Carol holds the turn and leaves before posting
    chat = leave(with_turn(four_member_chat(), CAROL, turn_number=5), user_id=CAROL).chat

    # When the turn is reconciled
    after, event = reconciled(chat)

    # Then Dave, who joined right after Carol, holds it (not the first member)
    assert after.turn.holder_id == DAVE
    assert after.turn.turn_number == 6
    assert (event.previous_holder_id, event.reason) == (CAROL, "left")


def test_successor_of_a_departed_holder_skips_members_who_left_too() -> None:
    # Given Bob holds the turn, then Bob and Carol both leave before the handler runs
    chat = with_turn(four_member_chat(), BOB)
    chat = leave(leave(chat, user_id=BOB).chat, user_id=CAROL).chat

    # When the turn is reconciled
    after, _ = reconciled(chat)

    # Then Dave, the next remaining member after Bob's place, holds it
    assert after.turn.holder_id == DAVE


def test_departed_last_holder_wraps_to_the_first_member() -> None:
    # Given Dave, the last to join, holds the turn and leaves
    chat = leave(with_turn(four_member_chat(), DAVE), user_id=DAVE).chat

    # When the turn is reconciled
    after, _ = reconciled(chat)

    # Then the floor wraps round to Alice
    assert after.turn.holder_id == OWNER


def test_departed_holder_who_had_posted_is_still_succeeded_in_order() -> None:
    # Given Bob posted in his turn, then left before the handler ran
    chat = leave(with_turn(four_member_chat(), BOB, consumed=True), user_id=BOB).chat

    # When the turn is reconciled
    after, event = reconciled(chat)

    # Then Carol holds the next turn, once
    assert after.turn.holder_id == CAROL
    assert after.turn.consumed is False
    assert event.reason == "left"
    assert reconcile_turn(after, at(101))[1] is None


def test_empty_chat_has_no_holder() -> None:
    # Given Alice holds the turn of a chat she is alone in, and leaves
    chat = leave(with_turn(new_chat("round_robin"), OWNER, turn_number=2), user_id=OWNER).chat
    assert chat.participants == ()

    # When the turn is reconciled
    after, event = reconciled(chat)

    # Then nobody holds it
    assert (after.turn.holder_id, after.turn.holder_joined_at, after.turn.turn_number) == (None, None, 3)
    assert (event.holder_id, event.previous_holder_id, event.reason) == (None, OWNER, "left")


def test_first_joiner_after_an_empty_chat_gets_the_floor() -> None:
    # Given a round-robin chat that emptied and was reconciled
    emptied = leave(with_turn(new_chat("round_robin"), OWNER, turn_number=2), user_id=OWNER).chat
    emptied, _ = reconciled(emptied, 50)

    # When Bob joins and the turn is reconciled
    chat = join(emptied, user_id=BOB, name="Bob", now=at(60)).chat
    after, event = reconciled(chat, 61)

    # Then Bob holds the next turn, announced as a join
    assert after.turn.holder_id == BOB
    assert after.turn.turn_number == 4
    assert (event.previous_holder_id, event.reason) == (None, "joined")


def test_a_join_does_not_take_the_floor_from_the_holder() -> None:
    # Given Alice holds an unconsumed turn
    chat = new_chat("round_robin")

    # When Bob joins and the turn is reconciled
    joined = join(chat, user_id=BOB, name="Bob", now=at(5)).chat
    after, event = reconcile_turn(joined, at(6))

    # Then nothing moves
    assert event is None
    assert after is joined


def test_reconcile_is_idempotent_after_each_kind_of_move() -> None:
    # Given chats whose turn needs to move for each reason
    moves = {
        "message": with_turn(four_member_chat(), BOB, consumed=True),
        "left": leave(with_turn(four_member_chat(), BOB), user_id=BOB).chat,
        "emptied": leave(with_turn(new_chat("round_robin"), OWNER), user_id=OWNER).chat,
    }
    for name, chat in moves.items():
        # When the same trigger is handled twice
        first, first_event = reconcile_turn(chat, at(100))
        second, second_event = reconcile_turn(first, at(101))

        # Then only the first moves the floor; the duplicate changes nothing
        assert first_event is not None, name
        assert second_event is None, name
        assert second == first, name


def test_free_chats_never_have_a_holder() -> None:
    # Given a free chat with members
    chat = with_members(new_chat("free"), BOB)

    # When the turn is reconciled after a post
    posted = post_message(
        chat, sender_id=BOB, text="x", client_message_id=None, message_id="m", now=at(5)
    ).chat
    after, event = reconcile_turn(posted, at(6))

    # Then there is nothing to move
    assert event is None
    assert after.turn.holder_id is None
    assert after.turn.consumed is False


def test_completed_chats_keep_their_turn() -> None:
    # Given Bob posted in his turn, then the chat was completed
    chat = complete(with_turn(four_member_chat(), BOB, consumed=True), user_id=OWNER).chat

    # When the turn is reconciled
    after, event = reconcile_turn(chat, at(100))

    # Then nothing moves any more
    assert event is None
    assert after == chat


def test_mode_change_to_free_clears_the_holder_and_to_round_robin_restores_one() -> None:
    # Given Bob holds a round-robin turn
    chat = with_turn(four_member_chat(), BOB, turn_number=3)

    # When the chat becomes free, then round robin again
    free, to_free = reconcile_turn(chat.model_copy(update={"turn_mode": "free"}), at(10), mode_changed=True)
    back, to_rr = reconcile_turn(
        free.model_copy(update={"turn_mode": "round_robin"}), at(20), mode_changed=True
    )

    # Then the holder is cleared, then given to the earliest member, both announced as mode changes
    assert to_free is not None
    assert to_rr is not None
    assert (to_free.holder_id, to_free.reason, to_free.turn_mode, free.turn.turn_number) == (
        None,
        "mode_changed",
        "free",
        4,
    )
    assert (to_rr.holder_id, to_rr.reason, to_rr.turn_mode, back.turn.turn_number) == (
        OWNER,
        "mode_changed",
        "round_robin",
        5,
    )


# --------------------------------------------------------------------------------------------------
# Property: any sequence of joins, leaves, posts and duplicate triggers keeps the floor sane
# --------------------------------------------------------------------------------------------------

operations = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "post", "duplicate"]),
        st.integers(min_value=0, max_value=50),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ai_count=st.integers(min_value=0, max_value=2), ops=operations)
def test_any_operation_sequence_keeps_a_valid_idempotent_turn(
    ai_count: int, ops: list[tuple[str, int, bool]]
) -> None:
    # Given a round-robin chat, with or without AI participants
    chat = new_chat("round_robin", ais=[f"ai-{i}" for i in range(ai_count)])
    now = T0
    last_turn_number = chat.turn.turn_number
    newcomers = 0
    previous: Chat | None = None

    for op, pick, handler_runs in ops:
        now += timedelta(seconds=2)
        # When members join, leave, the holder posts, or a trigger is delivered again...
        if op == "join":
            chat = join(chat, user_id=f"user-{newcomers}", name=f"User {newcomers}", now=now).chat
            newcomers += 1
        elif op == "leave":
            humans = [p.id for p in chat.participants if p.kind == "human"]
            if humans:
                chat = leave(chat, user_id=humans[pick % len(humans)]).chat
        elif op == "post":
            holder = chat.turn.holder_id
            if holder is not None and chat.member(holder) is not None and may_post(chat, holder):
                chat = post_message(
                    chat, sender_id=holder, text="x", client_message_id=None, message_id=str(now), now=now
                ).chat
        elif chat is previous:
            # a duplicate delivery of an already-handled trigger sees the reconciled state
            assert reconcile_turn(chat, now) == (chat, None)
        if not handler_runs:
            continue  # the turns handler is late: several changes pile up before it runs

        # ...and the turns handler reconciles
        chat, _ = reconcile_turn(chat, now)
        previous = chat

        # Then the holder is a current member whenever there are members, and nobody otherwise
        if chat.participants:
            holder_member = chat.member(chat.turn.holder_id) if chat.turn.holder_id else None
            assert holder_member is not None, (chat.turn, join_order(chat))
            assert chat.turn.holder_joined_at == holder_member.joined_at
            assert not chat.turn.consumed
        else:
            assert chat.turn.holder_id is None
        # And turn numbers never go back
        assert chat.turn.turn_number >= last_turn_number
        last_turn_number = chat.turn.turn_number
        # And handling the same trigger again is a no-op
        again, event = reconcile_turn(chat, now + timedelta(seconds=1))
        assert event is None
        assert again == chat
