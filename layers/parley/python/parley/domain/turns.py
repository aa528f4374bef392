"""Who holds the floor. Derived only from the chat state, so replaying any trigger is harmless.

Strict modes and their order of turns:

- ``round_robin``: every member, people and AI, in join order.
- ``alternating``: a person, then each AI participant in join order, then the next person.
  With only people (or only AI participants) it is round robin among them.
- ``moderated``: the floor rests with the chair (the earliest-joined owner or moderator); a
  moderator grants it to one member, and it returns to the chair when used or timed out.

A turn not taken within the chat's ``turn_timeout_seconds`` moves on (reason ``timeout``); the
deadline doubles after every full round of silence (up to 32 x), so an idle chat costs a handful
of events an hour while a chat whose holder walked away is never stuck.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from parley.catalog import TurnChanged
from parley.domain.model import MODERATOR_ROLES, Chat, Participant, TurnState

Reason = Literal["started", "message", "joined", "left", "timeout", "mode_changed", "granted", "ai_failed"]
Position = tuple[datetime, str]
"""A member's place in join order: (joined_at, id), total even for joins in the same microsecond."""

STRICT_MODES: frozenset[str] = frozenset({"round_robin", "alternating", "moderated"})
MAX_BACKOFF_EXPONENT = 5


def _ordered(participants: Iterable[Participant]) -> list[Participant]:
    return sorted(participants, key=lambda p: (p.joined_at, p.id))


def _position(participant: Participant) -> Position:
    return (participant.joined_at, participant.id)


def _next_after(
    candidates: Sequence[Participant], after: Position | None, *, wrap: bool = True
) -> Participant | None:
    """The first candidate after ``after`` in join order, wrapping round to the earliest."""
    ordered = _ordered(candidates)
    if after is not None:
        for candidate in ordered:
            if _position(candidate) > after:
                return candidate
        if not wrap:
            return None
    return ordered[0] if ordered else None


def chair(chat: Chat) -> Participant | None:
    """The moderated chat's resting holder: the earliest-joined person who may moderate."""
    return next(
        (p for p in _ordered(chat.participants) if p.kind == "human" and p.role in MODERATOR_ROLES), None
    )


def _first(chat: Chat) -> Participant:
    """Who gets the floor when nobody holds it."""
    if chat.turn_mode == "moderated":
        resting = chair(chat)
        if resting is not None:
            return resting
    if chat.turn_mode == "alternating":
        humans = [p for p in chat.participants if p.kind == "human"]
        if humans:
            return _ordered(humans)[0]
    return _ordered(chat.participants)[0]


def _successor(chat: Chat, after: Position, after_kind: str | None) -> Participant:
    """The holder after the one at ``after`` (who may have left) has had their turn.

    AI participants with nothing new to answer are skipped, unless nobody else is left.
    """
    participants = tuple(p for p in chat.participants if chat.has_news_for(p)) or chat.participants
    if chat.turn_mode == "moderated":
        resting = chair(chat)
        if resting is not None:
            return resting
    elif chat.turn_mode == "alternating":
        humans = [p for p in participants if p.kind == "human"]
        ais = [p for p in participants if p.kind == "ai"]
        if humans:
            if after_kind == "ai":
                next_ai = _next_after(ais, after, wrap=False) if ais else None
                if next_ai is not None:
                    return next_ai
                # the AIs have spoken: the person after the last person who held the floor
                person = _next_after(humans, chat.turn.last_human)
            elif ais:
                return _ordered(ais)[0]
            else:
                person = _next_after(humans, after)
            assert person is not None
            return person
    found = _next_after(participants, after)
    assert found is not None, "callers only ask for a successor when the chat has members"
    return found


def _move(chat: Chat, holder: Participant | None, reason: Reason, now: datetime) -> tuple[Chat, TurnChanged]:
    turn = chat.turn
    last_human = turn.last_human
    if holder is not None and holder.kind == "human":
        last_human = _position(holder)
    new_turn = TurnState(
        holder_id=holder.id if holder else None,
        holder_joined_at=holder.joined_at if holder else None,
        holder_kind=holder.kind if holder else None,
        last_human=last_human,
        turn_number=turn.turn_number + 1,
        consumed=False,
        since=now,
        quiet_turns=turn.quiet_turns + 1 if reason == "timeout" else 0,
    )
    event = TurnChanged(
        turn_mode=chat.turn_mode,
        holder_id=new_turn.holder_id,
        previous_holder_id=turn.holder_id,
        turn_number=new_turn.turn_number,
        reason=reason,
    )
    return chat.model_copy(update={"turn": new_turn}), event


def _holder_position(chat: Chat) -> Position | None:
    turn = chat.turn
    if turn.holder_id is None or turn.holder_joined_at is None:
        return None
    return (turn.holder_joined_at, turn.holder_id)


def reconcile_turn(
    chat: Chat, now: datetime, *, mode_changed: bool = False
) -> tuple[Chat, TurnChanged | None]:
    """Bring the turn in line with the chat's mode and members; a no-op when it already is.

    Every trigger (a post, a join, a leave, a mode change, a duplicate of any of these) calls this
    same function, which is what makes the turns handler idempotent and order-tolerant.
    """
    if chat.status == "completed":
        return chat, None
    turn = chat.turn
    holder = chat.member(turn.holder_id) if turn.holder_id else None
    new_holder: Participant | None
    reason: Reason
    if chat.turn_mode == "free" or not chat.participants:
        new_holder, reason = None, "mode_changed" if mode_changed else "left"
    elif mode_changed:
        keep = holder is not None and not (
            chat.turn_mode == "moderated" and chair(chat) is not None and holder is not chair(chat)
        )
        new_holder, reason = (holder if keep else _first(chat)), "mode_changed"
    elif turn.holder_id is None:
        new_holder, reason = _first(chat), "started" if turn.turn_number == 0 else "joined"
    elif holder is None:
        departed = _holder_position(chat)
        new_holder = _successor(chat, departed, turn.holder_kind) if departed else _first(chat)
        reason = "left"
    elif turn.consumed:
        new_holder, reason = _successor(chat, _position(holder), holder.kind), "message"
    else:
        return chat, None

    new_id = new_holder.id if new_holder else None
    if new_id == turn.holder_id and not turn.consumed and not mode_changed:
        return chat, None
    return _move(chat, new_holder, reason, now)


def turn_deadline(chat: Chat) -> datetime | None:
    """When the current turn times out; None when nothing can time out (free, completed, empty,
    or a moderated floor resting with its chair)."""
    if chat.status == "completed" or chat.turn_mode not in STRICT_MODES or not chat.participants:
        return None
    turn = chat.turn
    if chat.turn_mode == "moderated" and not turn.consumed:
        resting = chair(chat)
        if resting is not None and turn.holder_id == resting.id:
            return None
    rounds = turn.quiet_turns // max(1, len(chat.participants))
    timeout = chat.settings.turn_timeout_seconds * 2 ** min(rounds, MAX_BACKOFF_EXPONENT)
    return (turn.since or chat.created_at) + timedelta(seconds=timeout)


def expire_turn(chat: Chat, now: datetime) -> tuple[Chat, TurnChanged | None]:
    """The sweeper's decision: move a turn whose deadline passed; otherwise just reconcile.

    Reconciling first repairs what a lost turns-handler run left behind (a consumed turn, a holder
    who left), so only a genuinely untaken turn is reported as ``timeout``.
    """
    deadline = turn_deadline(chat)
    if deadline is None or now < deadline:
        return chat, None
    repaired, event = reconcile_turn(chat, now)
    if event is not None:
        return repaired, event
    holder = chat.member(chat.turn.holder_id) if chat.turn.holder_id else None
    if holder is None:
        return chat, None
    successor = _successor(chat, _position(holder), holder.kind)
    return _move(chat, successor, "timeout", now)


def pass_turn(
    chat: Chat, participant_id: str, reason: Reason, now: datetime
) -> tuple[Chat, TurnChanged | None]:
    """Move the floor on from ``participant_id`` if (and only if) they still hold an untaken turn."""
    turn = chat.turn
    holder = chat.member(participant_id)
    if chat.status == "completed" or turn.holder_id != participant_id or turn.consumed or holder is None:
        return chat, None
    return _move(chat, _successor(chat, _position(holder), holder.kind), reason, now)


def grant(chat: Chat, participant: Participant, now: datetime) -> tuple[Chat, TurnChanged | None]:
    """A moderator gives the floor; granting it to whoever already holds an untaken turn is a no-op."""
    if chat.turn.holder_id == participant.id and not chat.turn.consumed:
        return chat, None
    return _move(chat, participant, "granted", now)


def may_post(chat: Chat, user_id: str) -> bool:
    if chat.turn_mode == "free":
        return True
    return chat.turn.holder_id == user_id and not chat.turn.consumed
