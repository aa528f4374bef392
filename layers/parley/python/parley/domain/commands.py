"""Chat commands as pure decisions: (current chat, request, now) -> Outcome, or a ParleyError.

The service layer loads the chat, calls one of these, and commits the outcome in one transaction;
on a lost race it simply calls the function again on the fresh state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from parley.catalog import (
    AIResponseCompleted,
    AIResponseFailed,
    AIResponseRequested,
    ChatCompleted,
    ChatCreated,
    ChatSettingsChanged,
    EventData,
    MessageStored,
    MessageView,
    TurnChanged,
    TurnMode,
    UserJoined,
    UserLeft,
)
from parley.domain import audience, turns
from parley.domain.model import (
    MAX_PARTICIPANTS,
    MAX_PERSONA_BYTES,
    MAX_POST_TIMES,
    MAX_RECENT_POSTERS,
    SUPPORTED_TURN_MODES,
    AIProfile,
    Chat,
    ChatSettings,
    Outcome,
    Participant,
    json_bytes,
)
from parley.domain.turns import may_post, reconcile_turn
from parley.errors import (
    ChatCompletedError,
    ChatFullError,
    ForbiddenError,
    InvalidRequestError,
    NotYourTurnError,
    RateLimitedError,
)

FailureReason = Literal["model_error", "throttled", "timeout", "cancelled"]


def _require_supported(mode: str) -> None:
    if mode not in SUPPORTED_TURN_MODES:
        raise InvalidRequestError(
            f"turn_mode {mode!r} is not supported yet; use one of {sorted(SUPPORTED_TURN_MODES)}",
            field="turn_mode",
        )


def _require_active(chat: Chat) -> None:
    if chat.status == "completed":
        raise ChatCompletedError("the chat is completed and accepts no changes")


def _turn_events(chat: Chat, turn_changed: TurnChanged | None) -> list[EventData]:
    """A turn move and, when it hands the floor to an AI participant, the request that it answer.

    Both are decided (and committed) together, so a turn can never reach an AI that is not asked.
    The request id is derived from the turn, so a duplicate trigger asks the same question again.
    """
    if turn_changed is None:
        return []
    events: list[EventData] = [turn_changed]
    holder = chat.member(turn_changed.holder_id) if turn_changed.holder_id else None
    if holder is not None and holder.kind == "ai" and chat.has_news_for(holder):
        events.append(
            AIResponseRequested(
                request_id=f"turn-{turn_changed.turn_number}-{holder.id}",
                participant_id=holder.id,
                trigger="turn",
                after_message_sequence=chat.last_message_sequence,
            )
        )
    return events


def _joined(participant: Participant, turn_mode: TurnMode) -> UserJoined:
    """A join carries all the member is, so the chat's participants fold from its log."""
    return UserJoined(
        participant=participant.view(),
        turn_mode=turn_mode,
        joined_at=participant.joined_at,
        ai=participant.ai.model_dump() if participant.ai else None,
    )


def mentions(text: str, name: str) -> bool:
    """``@Name`` anywhere in the text, case-insensitive, not as part of a longer word."""
    return re.search(rf"(?<![\w@])@{re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def _free_chat_requests(chat: Chat, message: MessageView) -> list[EventData]:
    """In a free chat, a person's message asks the AI participants that always answer, or that it
    mentions. In strict modes every AI answers on its turn instead (the turn order is the policy)."""
    if chat.turn_mode != "free" or message.sender_kind != "human":
        return []
    asked: list[EventData] = []
    for participant in chat.participants:
        policy = participant.invocation(chat.turn_mode)
        if policy is None or not audience.message_visible_to(participant.id, message):
            continue  # an AI not addressed by a whisper never sees it, so never answers it
        if (
            policy == "always"
            or mentions(message.text, participant.name)
            or mentions(message.text, participant.id)
        ):
            asked.append(
                AIResponseRequested(
                    request_id=f"msg-{message.sequence}-{participant.id}",
                    participant_id=participant.id,
                    trigger="always" if policy == "always" else "mention",
                    after_message_sequence=message.sequence,
                )
            )
    return asked


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
    if sum(json_bytes(p.persona) for _, _, p in ai_participants) > MAX_PERSONA_BYTES:
        raise InvalidRequestError(
            f"the personas may take at most {MAX_PERSONA_BYTES} bytes together", field="ai_participants"
        )
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
        *(_joined(p, turn_mode) for p in chat.participants),
    ]
    events.extend(_turn_events(chat, turn_changed))
    return Outcome(chat=chat, events=tuple(events), joined=creator)


def join(chat: Chat, *, user_id: str, name: str, now: datetime) -> Outcome:
    """Joining twice is harmless: the second call changes nothing and announces nothing."""
    existing = chat.member(user_id)
    if existing is not None and existing.kind == "ai":
        raise ForbiddenError("that id belongs to an AI participant of this chat")
    if existing is not None:
        return Outcome(chat=chat)
    _require_active(chat)
    if len(chat.participants) >= MAX_PARTICIPANTS:
        raise ChatFullError(f"the chat holds {MAX_PARTICIPANTS} participants, its most")
    participant = Participant(id=user_id, name=name, kind="human", role="member", joined_at=now)
    chat = chat.model_copy(update={"participants": (*chat.participants, participant)})
    return Outcome(
        chat=chat,
        events=(_joined(participant, chat.turn_mode),),
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
    limit = chat.settings.rate_limit_messages
    recent = tuple(t for t in chat.recent_posts.get(user_id, ()) if t > now_ts - window)
    if len(recent) >= limit:
        retry_after = max(1, math.ceil(recent[-limit] + window - now_ts))
        raise RateLimitedError(
            f"at most {limit} messages in {window} s; retry in {retry_after} s",
            retry_after=retry_after,
        )
    kept = {u: ts for u, ts in chat.recent_posts.items() if u != user_id and ts and ts[-1] > now_ts - window}
    # bounded for the item's budget: the longest quiet posters go first (members who left, mostly)
    quietest = sorted(kept, key=lambda u: kept[u][-1])[: max(0, len(kept) + 1 - MAX_RECENT_POSTERS)]
    posts = {**{u: ts for u, ts in kept.items() if u not in quietest}, user_id: (*recent, now_ts)}
    if sum(len(ts) for ts in posts.values()) <= MAX_POST_TIMES:
        return posts
    # and so are the times themselves, chat-wide: the oldest go first
    cutoff = sorted((t for ts in posts.values() for t in ts), reverse=True)[MAX_POST_TIMES - 1]
    return {u: kept_ts for u, ts in posts.items() if (kept_ts := tuple(t for t in ts if t >= cutoff))}


def _check_post(chat: Chat, sender_id: str, text: str, in_turn: bool | None) -> Participant:
    """The post's sender, once the chat, the text and the turn allow it."""
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
    if not (may_post(chat, sender_id) if in_turn is None else in_turn):
        raise NotYourTurnError(
            "it is not your turn", turn_holder_id=chat.turn.holder_id, turn_number=chat.turn.turn_number
        )
    return sender


def post_message(
    chat: Chat,
    *,
    sender_id: str,
    text: str,
    client_message_id: str | None,
    message_id: str,
    now: datetime,
    in_turn: bool | None = None,
    text_override: str | None = None,
    to: Sequence[str] | None = None,
) -> Outcome:
    """``in_turn`` is a turn hook's ruling, replacing the chat's turn mode for this post;
    ``text_override`` a moderation hook's rewrite, checked against the same limits; ``to`` makes
    it a whisper, which only the sender and those members see (every event of the post included)."""
    if text_override is not None:
        text = text_override
    sender = _check_post(chat, sender_id, text, in_turn)
    addressees = audience.whisper_to(sender_id, to, (p.id for p in chat.participants))
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
        to=addressees,
    )
    turn = chat.turn
    if chat.turn_mode != "free" and turn.holder_id == sender_id:
        turn = turn.model_copy(update={"consumed": True})
    update: dict[str, Any] = {"last_message_sequence": sequence, "turn": turn, "recent_posts": recent}
    if sender.kind == "human":
        update["last_human_sequence"] = sequence
    else:
        update["ai_replied"] = {**chat.ai_replied, sender.id: sequence}
    chat = chat.model_copy(update=update)
    stored = MessageStored(message=message, turn_mode=chat.turn_mode, turn_number=chat.turn.turn_number)
    return Outcome(
        chat=chat,
        events=(stored, *_free_chat_requests(chat, message)),
        message=message,
        audience=None if addressees is None else audience.message_audience(message),
    )


def post_ai_reply(
    chat: Chat,
    *,
    participant_id: str,
    request_id: str,
    text: str,
    message_id: str,
    now: datetime,
    time_to_first_token_ms: float,
    duration_ms: float,
    input_tokens: int,
    output_tokens: int,
    to: Sequence[str] | None = None,
) -> Outcome:
    """An AI participant's reply and its AIResponseCompleted, stored together: a reply is never
    without its completion record, nor a completion without its reply. ``to``: the reply to a
    whisper is a whisper to the same people."""
    participant = chat.member(participant_id)
    if participant is None or participant.kind != "ai":
        raise ForbiddenError("only an AI participant of this chat may post an AI reply")
    posted = post_message(
        chat,
        sender_id=participant_id,
        text=text,
        client_message_id=request_id,
        message_id=message_id,
        now=now,
        # those of the whisper's people who left meanwhile are dropped; with nobody left it fails
        to=None if to is None else [p for p in to if chat.member(p) is not None],
    )
    assert posted.message is not None
    completed = AIResponseCompleted(
        request_id=request_id,
        participant_id=participant_id,
        message_id=posted.message.message_id,
        message_sequence=posted.message.sequence,
        time_to_first_token_ms=time_to_first_token_ms,
        duration_ms=duration_ms,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    return replace(posted, events=(*posted.events, completed))


def fail_ai_response(
    chat: Chat,
    *,
    participant_id: str,
    request_id: str,
    reason: FailureReason,
    detail: str,
    now: datetime,
    to: Sequence[str] | None = None,
) -> Outcome:
    """Record why an AI reply failed and, if the AI still holds an untaken turn, move the floor on
    (reason ``ai_failed``), so a failing model never leaves a chat stuck. Allowed on a completed
    chat too: the record says the reply was cancelled.

    ``to``: the failed reply was a whisper to these people, so its failure is too (the others never
    learn a whisper asked the AI). It moves no turn: a whisper asks an AI only in a free chat, and
    a turn the AI took since then belongs to its own (public) turn request, which still answers."""
    failed = AIResponseFailed(
        request_id=request_id,
        participant_id=participant_id,
        reason=reason,
        detail=detail[:1000],
    )
    # the failed AI has had its chance: it answers again only once a person posts
    if chat.member(participant_id) is not None:
        chat = chat.model_copy(
            update={"ai_replied": {**chat.ai_replied, participant_id: chat.last_human_sequence}}
        )
    if to is not None:
        return Outcome(chat=chat, events=(failed,), audience=(participant_id, *to))
    moved, turn_changed = turns.pass_turn(chat, participant_id, "ai_failed", now)
    return Outcome(chat=moved, events=(failed, *_turn_events(moved, turn_changed)))


def change_settings(chat: Chat, *, user_id: str, changes: Mapping[str, Any], now: datetime) -> Outcome:
    if not chat.is_moderator(user_id):
        raise ForbiddenError("only the chat's owner or moderators may change its settings")
    return apply_settings(chat, changed_by=user_id, changes=changes, now=now)


EXTENSION_SETTINGS: tuple[str, ...] = (
    "turn_mode",
    "turn_timeout_seconds",
    "max_message_length",
    "rate_limit_messages",
    "rate_limit_window_seconds",
)
"""The settings an extension with `settings:write` may change (a workflow's `change_setting`): how the
chat talks. Never `hook_fallback` (it decides whether a failing moderation hook lets posts through) nor
the extensions' own message rates (an extension would lift its own limit)."""


def settings_after(chat: Chat, changes: Mapping[str, Any]) -> tuple[ChatSettings, str]:
    """The settings and turn mode ``changes`` make, by the moderator's rules (raises when invalid)."""
    _require_active(chat)
    changes = dict(changes)
    new_mode = changes.pop("turn_mode", None) or chat.turn_mode
    _require_supported(new_mode)
    try:
        settings = ChatSettings.model_validate({**chat.settings.model_dump(), **changes})
    except ValueError as exc:
        raise InvalidRequestError(f"invalid settings: {exc}") from exc
    return settings, new_mode


def extension_settings(
    chat: Chat, *, extension_id: str, changes: Mapping[str, Any], now: datetime
) -> Outcome:
    """An extension's settings change: only ``EXTENSION_SETTINGS``, then as a moderator's."""
    refused = sorted(set(changes) - set(EXTENSION_SETTINGS))
    if refused:
        raise InvalidRequestError(
            f"extensions may change only {', '.join(EXTENSION_SETTINGS)}; not {', '.join(refused)}",
            field=refused[0],
        )
    return apply_settings(chat, changed_by=f"ext:{extension_id}", changes=changes, now=now)


def apply_settings(chat: Chat, *, changed_by: str, changes: Mapping[str, Any], now: datetime) -> Outcome:
    """Settings and turn mode changed (whoever may ask has been checked): ChatSettingsChanged with the
    fields that changed, and the turn's move a new mode makes."""
    settings, new_mode = settings_after(chat, changes)
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
            changed_by=changed_by, changes=diff, turn_mode=new_mode, settings=settings.model_dump()
        )
    ]
    if "turn_mode" in diff:
        chat, turn_changed = reconcile_turn(chat, now, mode_changed=True)
        events.extend(_turn_events(chat, turn_changed))
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
    return Outcome(chat=chat, events=tuple(_turn_events(chat, turn_changed)))


def expire_turn(chat: Chat, *, now: datetime) -> Outcome:
    """The turn sweeper's command: a no-op unless the turn's deadline has passed."""
    chat, turn_changed = turns.expire_turn(chat, now)
    return Outcome(chat=chat, events=tuple(_turn_events(chat, turn_changed)))


def grant_turn(chat: Chat, *, user_id: str, participant_id: str, now: datetime) -> Outcome:
    """A moderator gives the floor to one member (moderated chats only)."""
    if not chat.is_moderator(user_id):
        raise ForbiddenError("only the chat's owner or moderators may give the floor")
    return give_floor(chat, participant_id=participant_id, now=now)


def floor_taker(chat: Chat, participant_id: str) -> Participant:
    """Who would get the floor: a member of an active moderated chat (raises otherwise)."""
    _require_active(chat)
    if chat.turn_mode != "moderated":
        raise InvalidRequestError(
            f"the floor is given by moderators only in moderated chats; this one is {chat.turn_mode}",
            field="turn_mode",
        )
    participant = chat.member(participant_id)
    if participant is None:
        raise InvalidRequestError(
            "the floor can only be given to a member of the chat", field="participant_id"
        )
    return participant


def give_floor(chat: Chat, *, participant_id: str, now: datetime) -> Outcome:
    """The floor given (whoever may give it has been checked: a moderator, or an extension's
    `turns:give`)."""
    chat, turn_changed = turns.grant(chat, floor_taker(chat, participant_id), now)
    return Outcome(chat=chat, events=tuple(_turn_events(chat, turn_changed)))
