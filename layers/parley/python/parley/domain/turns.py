"""Who holds the floor. Derived only from the chat state, so replaying any trigger is harmless."""

from __future__ import annotations

from datetime import datetime

from parley.catalog import TurnChanged
from parley.domain.model import Chat, Participant, TurnState


def _successor(participants: tuple[Participant, ...], after: tuple[datetime, str] | None) -> Participant:
    """The first member after ``after`` in join order, wrapping round to the earliest.

    Join order is (joined_at, id), so members who joined in the same microsecond still have one.
    """
    ordered = sorted(participants, key=lambda p: (p.joined_at, p.id))
    if after is not None:
        for candidate in ordered:
            if (candidate.joined_at, candidate.id) > after:
                return candidate
    return ordered[0]


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
    if chat.turn_mode == "free" or not chat.participants:
        new_holder, reason = None, "mode_changed" if mode_changed else "left"
    elif mode_changed:
        new_holder, reason = holder or _successor(chat.participants, None), "mode_changed"
    elif turn.holder_id is None:
        new_holder, reason = (
            _successor(chat.participants, None),
            "started" if turn.turn_number == 0 else "joined",
        )
    elif holder is None:
        departed = (turn.holder_joined_at, turn.holder_id) if turn.holder_joined_at else None
        new_holder, reason = _successor(chat.participants, departed), "left"
    elif turn.consumed:
        new_holder, reason = _successor(chat.participants, (holder.joined_at, holder.id)), "message"
    else:
        return chat, None

    new_id = new_holder.id if new_holder else None
    if new_id == turn.holder_id and not turn.consumed and not mode_changed:
        return chat, None
    new_turn = TurnState(
        holder_id=new_id,
        holder_joined_at=new_holder.joined_at if new_holder else None,
        turn_number=turn.turn_number + 1,
        consumed=False,
        since=now,
    )
    event = TurnChanged(
        turn_mode=chat.turn_mode,
        holder_id=new_id,
        previous_holder_id=turn.holder_id,
        turn_number=new_turn.turn_number,
        reason=reason,
    )
    return chat.model_copy(update={"turn": new_turn}), event


def may_post(chat: Chat, user_id: str) -> bool:
    if chat.turn_mode == "free":
        return True
    return chat.turn.holder_id == user_id and not chat.turn.consumed
