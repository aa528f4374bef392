"""Chat commands as pure decisions: (current chat, request, now) -> Outcome, or a ParleyError.

The service layer loads the chat, calls one of these, and commits the outcome in one transaction;
on a lost race it simply calls the function again on the fresh state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from parley.catalog import (
    ChatCompleted,
    ChatCreated,
    ChatSettingsChanged,
    EventData,
    MessageStored,
    MessageView,
    TurnMode,
    UserJoined,
    UserLeft,
)
from parley.domain.model import SUPPORTED_TURN_MODES, AIProfile, Chat, ChatSettings, Outcome, Participant
from parley.domain.turns import may_post, reconcile_turn
from parley.errors import (
    ChatCompletedError,
    ForbiddenError,
    InvalidRequestError,
    NotYourTurnError,
    RateLimitedError,
)


def _require_supported(mode: str) -> None:
    if mode not in SUPPORTED_TURN_MODES:
        raise InvalidRequestError(
            f"turn_mode {mode!r} is not supported yet; use one of {sorted(SUPPORTED_TURN_MODES)}",
            field="turn_mode",
        )


def _require_active(chat: Chat) -> None:
    if chat.status == "completed":
        raise ChatCompletedError("the chat is completed and accepts no changes")


def create_chat(
    *,
    chat_id: str,
    creator_id: str,
    creator_name: str,
    title: str,
    turn_mode: TurnMode,
    ai_participants: Sequence[tuple[str, str, AIProfile]],
    settings: ChatSettings,
    now: datetime,
) -> Outcome:
    _require_supported(turn_mode)
    ids = [creator_id, *(ai_id for ai_id, _, _ in ai_participants)]
    if len(set(ids)) != len(ids):
        raise InvalidRequestError("participant ids must be unique", field="ai_participants")
    creator = Participant(id=creator_id, name=creator_name, kind="human", role="owner", joined_at=now)
    # AI participants join in the order given, each a microsecond later, so join order is total.
    ais = tuple(
        Participant(
            id=ai_id,
            name=name,
            kind="ai",
            role="member",
            joined_at=now + timedelta(microseconds=i + 1),
            ai=profile,
        )
        for i, (ai_id, name, profile) in enumerate(ai_participants)
    )
    chat = Chat(
        chat_id=chat_id,
        title=title,
        turn_mode=turn_mode,
        settings=settings,
        participants=(creator, *ais),
        created_by=creator_id,
        created_at=now,
    )
    chat, turn_changed = reconcile_turn(chat, now)
    events: list[EventData] = [
        ChatCreated(
            title=title,
            turn_mode=turn_mode,
            created_by=creator_id,
            participants=tuple(p.view() for p in chat.participants),
            settings=settings.model_dump(),
        ),
        *(UserJoined(participant=p.view(), turn_mode=turn_mode) for p in chat.participants),
    ]
    if turn_changed:
        events.append(turn_changed)
    return Outcome(chat=chat, events=tuple(events), joined=creator)


def join(chat: Chat, *, user_id: str, name: str, now: datetime) -> Outcome:
    """Joining twice is harmless: the second call changes nothing and announces nothing."""
    existing = chat.member(user_id)
    if existing is not None and existing.kind == "ai":
        raise ForbiddenError("that id belongs to an AI participant of this chat")
    if existing is not None:
        return Outcome(chat=chat)
    _require_active(chat)
    participant = Participant(id=user_id, name=name, kind="human", role="member", joined_at=now)
    chat = chat.model_copy(update={"participants": (*chat.participants, participant)})
    return Outcome(
        chat=chat,
        events=(UserJoined(participant=participant.view(), turn_mode=chat.turn_mode),),
        joined=participant,
    )


def leave(chat: Chat, *, user_id: str) -> Outcome:
    if not chat.human(user_id):
        return Outcome(chat=chat)
    # recent_posts stay: leaving and rejoining must not reset the rate limit
    chat = chat.model_copy(update={"participants": tuple(p for p in chat.participants if p.id != user_id)})
    return Outcome(
        chat=chat, events=(UserLeft(participant_id=user_id, turn_mode=chat.turn_mode),), left=user_id
    )


def _rate_limit(chat: Chat, user_id: str, now_ts: float) -> dict[str, tuple[float, ...]]:
    """The post times to store after this post, or RateLimitedError; stale entries are dropped."""
    window = chat.settings.rate_limit_window_seconds
    recent = tuple(t for t in chat.recent_posts.get(user_id, ()) if t > now_ts - window)
    if len(recent) >= chat.settings.rate_limit_messages:
        retry_after = max(1, math.ceil(recent[-chat.settings.rate_limit_messages] + window - now_ts))
        raise RateLimitedError(
            f"at most {chat.settings.rate_limit_messages} messages in {window} s; retry in {retry_after} s",
            retry_after=retry_after,
        )
    kept = {u: ts for u, ts in chat.recent_posts.items() if u != user_id and ts and ts[-1] > now_ts - window}
    return {**kept, user_id: (*recent, now_ts)}


def post_message(
    chat: Chat,
    *,
    sender_id: str,
    text: str,
    client_message_id: str | None,
    message_id: str,
    now: datetime,
) -> Outcome:
    sender = chat.member(sender_id)
    if sender is None:  # the service checks membership first; this guards direct callers
        raise ForbiddenError("only members may post")
    _require_active(chat)
    if not text.strip():
        raise InvalidRequestError("text must not be empty or only whitespace", field="text")
    if len(text) > chat.settings.max_message_length:
        raise InvalidRequestError(
            f"text is {len(text)} characters; this chat accepts at most {chat.settings.max_message_length}",
            field="text",
        )
    if not may_post(chat, sender_id):
        raise NotYourTurnError(
            "it is not your turn", turn_holder_id=chat.turn.holder_id, turn_number=chat.turn.turn_number
        )
    recent = _rate_limit(chat, sender_id, now.timestamp())
    sequence = chat.last_message_sequence + 1
    message = MessageView(
        message_id=message_id,
        chat_id=chat.chat_id,
        sequence=sequence,
        sender_id=sender.id,
        sender_name=sender.name,
        sender_kind=sender.kind,
        text=text,
        client_message_id=client_message_id,
        created_at=now,
    )
    turn = chat.turn
    if chat.turn_mode != "free":
        turn = turn.model_copy(update={"consumed": True})
    chat = chat.model_copy(
        update={
            "last_message_sequence": sequence,
            "turn": turn,
            "recent_posts": recent,
        }
    )
    stored = MessageStored(message=message, turn_mode=chat.turn_mode, turn_number=chat.turn.turn_number)
    return Outcome(chat=chat, events=(stored,), message=message)


def change_settings(chat: Chat, *, user_id: str, changes: Mapping[str, Any], now: datetime) -> Outcome:
    if not chat.is_moderator(user_id):
        raise ForbiddenError("only the chat's owner or moderators may change its settings")
    _require_active(chat)
    changes = dict(changes)
    new_mode = changes.pop("turn_mode", None) or chat.turn_mode
    _require_supported(new_mode)
    try:
        settings = ChatSettings.model_validate({**chat.settings.model_dump(), **changes})
    except ValueError as exc:
        raise InvalidRequestError(f"invalid settings: {exc}") from exc
    diff: dict[str, Any] = {
        k: v for k, v in settings.model_dump().items() if chat.settings.model_dump().get(k) != v
    }
    if new_mode != chat.turn_mode:
        diff["turn_mode"] = new_mode
    if not diff:
        return Outcome(chat=chat)
    chat = chat.model_copy(update={"settings": settings, "turn_mode": new_mode})
    events: list[EventData] = [
        ChatSettingsChanged(
            changed_by=user_id, changes=diff, turn_mode=new_mode, settings=settings.model_dump()
        )
    ]
    if "turn_mode" in diff:
        chat, turn_changed = reconcile_turn(chat, now, mode_changed=True)
        if turn_changed:
            events.append(turn_changed)
    return Outcome(chat=chat, events=tuple(events))


def complete(chat: Chat, *, user_id: str) -> Outcome:
    if not chat.is_moderator(user_id):
        raise ForbiddenError("only the chat's owner or moderators may complete it")
    if chat.status == "completed":
        return Outcome(chat=chat)
    chat = chat.model_copy(update={"status": "completed"})
    return Outcome(chat=chat, events=(ChatCompleted(completed_by=user_id),))


def advance_turn(chat: Chat, *, now: datetime) -> Outcome:
    chat, turn_changed = reconcile_turn(chat, now)
    return Outcome(chat=chat, events=(turn_changed,) if turn_changed else ())
