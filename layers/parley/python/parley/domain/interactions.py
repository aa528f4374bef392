"""Interactive messages as pure decisions: a member's action on an extension's blocks, and the
extension's update of its own message.

An action is checked against the message's blocks as they are at that moment (the caller reads the
message again on every attempt), so a vote on a poll closed a moment ago is refused. The update keeps
the message's audience and numbers its versions, so a client keeps the newest it saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from parley import blocks as schema
from parley.blocks import BLOCKS_VERSION, Block
from parley.catalog import InteractionSubmitted, MessageUpdated, MessageView
from parley.domain import audience
from parley.domain.commands import _rate_limit
from parley.domain.model import MAX_MESSAGE_LENGTH, Chat, Outcome
from parley.errors import (
    ChatCompletedError,
    ForbiddenError,
    InvalidRequestError,
    MessageNotFoundError,
    StaleUpdateError,
)

EXTENSION_SENDER = "ext:"


def owner_of(message: MessageView) -> str | None:
    """The extension that posted the message, or None for a person's or an AI's."""
    if message.sender_kind != "extension" or not message.sender_id.startswith(EXTENSION_SENDER):
        return None
    return message.sender_id.removeprefix(EXTENSION_SENDER)


def _interactive(chat: Chat, message: MessageView | None, participant_id: str) -> tuple[MessageView, str]:
    """The message and its owner, if this member may act on it."""
    owner = owner_of(message) if message is not None else None
    if message is None or owner is None or not message.blocks:
        raise MessageNotFoundError("no message with blocks by that id in this chat", chat_id=chat.chat_id)
    role = chat.role_of(participant_id)
    if not audience.visible_to(participant_id, role, audience.message_audience(message)):
        raise ForbiddenError("you may not see this message")
    if chat.status == "completed":
        raise ChatCompletedError("the chat is completed and accepts no changes")
    install = chat.enabled_extension(owner)
    if (
        install is None or install.shadow
    ):  # a shadow install's update is only recorded: the action would vanish
        raise InvalidRequestError(
            f"the extension that posted this message ({owner}) is not enabled here", field="message_id"
        )
    return message, owner


def submit(
    chat: Chat,
    message: MessageView | None,
    *,
    participant_id: str,
    action_id: str,
    values: Mapping[str, Any],
    client_action_id: str,
    submission_id: str,
    now: datetime,
) -> Outcome:
    """A member's action, checked against the message's current blocks: only its actions, values of
    their declared types and options, a poll still open; within the member's rate limit for posts.
    Only the member and the owning extension see the submission (its values may be private answers)."""
    message, owner = _interactive(chat, message, participant_id)
    action = schema.actions(message.blocks or ()).get(action_id)
    if action is None:
        raise schema.ActionRefusedError(f"the message has no action {action_id!r}", field="action_id")
    submitted = InteractionSubmitted(
        submission_id=submission_id,
        client_action_id=client_action_id,
        message_id=message.message_id,
        message_version=message.version,
        extension_id=owner,
        action_id=action_id,
        values=schema.check_values(action, values, now=now),
        participant_id=participant_id,
    )
    # an action counts toward the member's rate limit like a post: clicks cannot flood the extension
    counted = chat.model_copy(update={"recent_posts": _rate_limit(chat, participant_id, now.timestamp())})
    return Outcome(chat=counted, events=(submitted,), audience=(participant_id,))


def update_message_allowed(message: MessageView | None, extension_id: str) -> MessageView:
    """The message, if this extension may update it: only its own."""
    if message is None:
        raise MessageNotFoundError("no extension's message by that id in this chat")
    if owner_of(message) != extension_id:
        raise ForbiddenError(f"not_owner: extension {extension_id} may update only its own messages")
    return message


def update_message(
    chat: Chat,
    message: MessageView | None,
    *,
    extension_id: str,
    text: str | None,
    blocks: Sequence[Block] | None,
    now: datetime,
    revision: int | None = None,
    shown_revision: int | None = None,
) -> Outcome:
    """The extension's new version of its own message: ``None`` keeps the text or blocks, empty blocks
    remove them. For the message's audience (a whisper's people), with the next version number."""
    message = update_message_allowed(message, extension_id)
    if chat.status == "completed":  # a completed chat is a record: its messages stay as they ended
        raise ChatCompletedError("the chat is completed and accepts no changes")
    check_revision(revision, shown_revision)
    new_text = message.text if text is None else text
    if not new_text.strip() or len(new_text) > min(MAX_MESSAGE_LENGTH, chat.settings.max_message_length):
        raise InvalidRequestError(
            "text must not be blank or over the chat's max_message_length", field="text"
        )
    kept = message.blocks if blocks is None else (tuple(blocks) or None)
    if kept:
        schema.check_bounds(kept)
    updated = message.model_copy(
        update={
            "text": new_text,
            "blocks": kept,
            "blocks_version": BLOCKS_VERSION if kept else None,
            "version": message.version + 1,
            "edited_at": now,
            "filtered": None,
        }
    )
    scope = None if message.to is None else audience.message_audience(message)
    return Outcome(
        chat=chat,
        events=(MessageUpdated(message=updated, extension_id=extension_id),),
        audience=scope,
        updated=updated,
        update_revision=revision,
    )


def check_revision(revision: int | None, shown_revision: int | None) -> None:
    """Updates can arrive out of order: one counted at or below what the message shows is older."""
    if revision is not None and shown_revision is not None and revision <= shown_revision:
        raise StaleUpdateError(
            f"revision {revision} is not above the message's {shown_revision}",
            revision=revision,
            shown_revision=shown_revision,
        )
