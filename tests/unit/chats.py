"""Builders for chat aggregates used by the pure domain tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from parley.catalog import Role, TurnMode
from parley.domain.commands import create_chat, join
from parley.domain.model import AIProfile, Chat, ChatSettings, Participant, TurnState

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
OWNER = "user-alice"


def at(seconds: float) -> datetime:
    """``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def ai(ai_id: str, name: str | None = None) -> tuple[str, str, AIProfile]:
    return (ai_id, name or ai_id.title(), AIProfile(persona="You are helpful.", model="echo"))


def new_chat(
    turn_mode: TurnMode = "round_robin",
    *,
    ais: Sequence[str] = (),
    settings: ChatSettings | None = None,
    now: datetime = T0,
) -> Chat:
    """A chat created by Alice (the owner) with the given AI participants."""
    return create_chat(
        chat_id="chat-1",
        creator_id=OWNER,
        creator_name="Alice",
        title="Planning",
        turn_mode=turn_mode,
        ai_participants=[ai(a) for a in ais],
        settings=settings or ChatSettings(),
        now=now,
    ).chat


def with_members(chat: Chat, *user_ids: str, start: float = 1.0) -> Chat:
    """Humans join one second apart, starting ``start`` seconds after T0."""
    for i, user_id in enumerate(user_ids):
        chat = join(chat, user_id=user_id, name=user_id.removeprefix("user-").title(), now=at(start + i)).chat
    return chat


def with_role(chat: Chat, user_id: str, role: Role) -> Chat:
    participants = tuple(
        p.model_copy(update={"role": role}) if p.id == user_id else p for p in chat.participants
    )
    return chat.model_copy(update={"participants": participants})


def with_turn(chat: Chat, holder_id: str | None, *, consumed: bool = False, turn_number: int = 1) -> Chat:
    """Put the floor in a given state, as if the turns handler had left it there."""
    holder: Participant | None = chat.member(holder_id) if holder_id else None
    turn = TurnState(
        holder_id=holder_id,
        holder_joined_at=holder.joined_at if holder else None,
        turn_number=turn_number,
        consumed=consumed,
        since=T0,
    )
    return chat.model_copy(update={"turn": turn})


def join_order(chat: Chat) -> list[str]:
    return [p.id for p in sorted(chat.participants, key=lambda p: (p.joined_at, p.id))]
