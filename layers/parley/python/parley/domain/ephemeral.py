"""Ephemeral messages: text for one member's eyes, checked like a post but never part of the chat.

An extension with ``messages:ephemeral`` (or the core itself) may show a member a message that no one
else receives and that is never stored: no sequence, no event row, no history, no inbox, no analytics.
The rules here decide whether one may be sent; ``parley.services.ephemeral`` pushes it.
"""

from __future__ import annotations

from datetime import datetime

from parley.catalog import EphemeralMessage
from parley.domain.model import MAX_MESSAGE_LENGTH, Chat
from parley.errors import ChatCompletedError, InvalidRequestError

CORE_SENDER = ("parley", "Parley")
"""(sender_id, sender_name) of what the core itself sends."""


def ephemeral_message(
    chat: Chat,
    *,
    participant_id: str,
    text: str,
    message_id: str,
    extension: tuple[str, str] | None = None,
) -> EphemeralMessage:
    """The message for ``participant_id``, or why it cannot be sent: the chat is completed, the
    addressee is not a human member, or the text is blank or longer than the chat accepts.
    ``extension`` is the sending extension's (id, name); None when the core sends it."""
    if chat.status == "completed":
        raise ChatCompletedError("the chat is completed and accepts no changes")
    if chat.human(participant_id) is None:
        raise InvalidRequestError(f"{participant_id!r} is not a member of this chat", field="participant_id")
    if not text.strip():
        raise InvalidRequestError("text must not be empty or only whitespace", field="text")
    limit = min(MAX_MESSAGE_LENGTH, chat.settings.max_message_length)
    if len(text) > limit:
        raise InvalidRequestError(
            f"text is {len(text)} characters; this chat accepts at most {limit}", field="text"
        )
    if extension is None:
        sender_id, sender_name = CORE_SENDER
    else:
        sender_id, sender_name = f"ext:{extension[0]}", extension[1]
    return EphemeralMessage(
        message_id=message_id,
        participant_id=participant_id,
        sender_id=sender_id,
        sender_name=sender_name,
        sender_kind="system" if extension is None else "extension",
        extension_id=None if extension is None else extension[0],
        text=text,
    )


def expired(requested_at: datetime, now: datetime, *, max_age_seconds: float) -> bool:
    """A request that waited too long (queue retries, a backlog) is dropped rather than shown late:
    an ephemeral reply makes sense only next to what caused it."""
    return (now - requested_at).total_seconds() > max_age_seconds
