"""Interactive messages: a member's action (once per client id) and an extension's update of its
own message (once per request), each one transaction of the chat's log with its idempotency key.

The event log is the source (InteractionSubmitted, MessageUpdated); the message row is MessageUpdated's
projection, rewritten in the same transaction by the repository (``ChatRepository.commit``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parley.adapters.dynamodb import (
    ChatRepository,
    Claim,
    DuplicateClientMessageError,
    LoadedChat,
    action_key,
    update_key,
)
from parley.blocks import Block, visible_text
from parley.catalog import Actor, Audience, Envelope, MessageView
from parley.domain import interactions
from parley.domain.model import Chat, Outcome
from parley.errors import InvalidRequestError, ParleyError
from parley.extensions.manifest import ExtensionDocument
from parley.services.moderation import Moderated, with_rulings
from parley.services.unit_of_work import Identity, UnitOfWork

ACTION_KEY_TTL = timedelta(days=1)
"""A person's retry of an action comes within hours, as a post's does."""

ModerateForMembers = Callable[
    [str, str, str, str, str, Envelope[Any], Audience | None], tuple[LoadedChat | None, Moderated]
]


@dataclass(frozen=True)
class Submission:
    submission_id: str
    replayed: bool


class Interactions:
    def __init__(
        self,
        repository: ChatRepository,
        uow: UnitOfWork,
        moderate: ModerateForMembers,
        new_id: Callable[[], str],
    ) -> None:
        self._repo = repository
        self._uow = uow
        self._moderate = moderate
        self._new_id = new_id

    def submit(
        self,
        who: Identity,
        chat_id: str,
        message_id: str,
        *,
        action_id: str,
        values: Mapping[str, Any],
        client_action_id: str,
        correlation_id: str | None = None,
    ) -> Submission:
        """Check the action against the message's blocks as they are now and record it for the owning
        extension; the same ``client_action_id`` again answers the first submission and records nothing."""
        submission_id = self._new_id()
        key = action_key(chat_id, who.user_id, client_action_id)

        def decide(chat: Chat, now: datetime) -> Outcome:
            return interactions.submit(
                chat,
                self._repo.message_by_id(chat_id, message_id),  # its blocks as of this attempt
                participant_id=who.user_id,
                action_id=action_id,
                values=values,
                client_action_id=client_action_id,
                submission_id=submission_id,
                now=now,
            )

        claim = Claim(key, {"submission_id": submission_id, "message_id": message_id}, ACTION_KEY_TTL)
        try:
            self._uow.execute(chat_id, who, decide, correlation_id, claim=claim)
        except (DuplicateClientMessageError, ParleyError) as exc:
            # a repeat of a recorded action (even one the message would now refuse) gets its answer
            earlier = self._repo.claimed(key)
            if (
                earlier is not None
                and earlier.get("message_id") != message_id
                and not isinstance(exc, ParleyError)
            ):
                raise InvalidRequestError(
                    "this client_action_id was used for another message: send a new one",
                    field="client_action_id",
                ) from exc
            if earlier is None or earlier.get("message_id") != message_id:
                raise
            return Submission(str(earlier["submission_id"]), replayed=True)
        return Submission(submission_id, replayed=False)

    def update(
        self,
        chat_id: str,
        *,
        document: ExtensionDocument,
        request_id: str,
        message_id: str,
        text: str | None,
        blocks: Sequence[Block] | None,
        cause: Envelope[Any],
        revision: int | None = None,
    ) -> MessageView | None:
        """An extension's new version of its own message, after the chat's moderation hooks (on what
        it will show; a rewrite stores the rewritten text without blocks). None for a repeat.

        Raises StaleUpdateError when ``revision`` is not above the one the message shows."""
        key = update_key(chat_id, document.id, request_id)
        if self._repo.claimed(key) is not None:
            return None  # applied already (a redelivery): no second MessageUpdated, no second ruling
        current = interactions.update_message_allowed(
            self._repo.message_by_id(chat_id, message_id), document.id
        )
        if revision is not None:  # before moderation: a stale state is never ruled on
            interactions.check_revision(revision, self._repo.message_revision(chat_id, message_id))
        shown_text = current.text if text is None else text
        shown_blocks = current.blocks if blocks is None else blocks
        shown = "\n".join([shown_text, visible_text(shown_blocks)]) if shown_blocks else shown_text
        scope = None if current.to is None else (current.sender_id, *current.to)
        sender = f"ext:{document.id}"
        loaded, ruled = self._moderate(chat_id, message_id, sender, document.name, shown, cause, scope)
        if ruled.text != shown:
            text, blocks = ruled.text, ()

        def decide(chat: Chat, now: datetime) -> Outcome:
            outcome = interactions.update_message(
                chat,
                self._repo.message_by_id(chat_id, message_id),  # the latest version, numbered after it
                extension_id=document.id,
                text=text,
                blocks=blocks,
                now=now,
                revision=revision,
                shown_revision=None if revision is None else self._repo.message_revision(chat_id, message_id),
            )
            return with_rulings(outcome, ruled)

        try:
            outcome = self._uow.execute(
                chat_id,
                None,
                decide,
                cause.metadata.correlation_id,
                actor=Actor(id=sender, kind="system", name=document.name),
                causation_id=cause.metadata.event_id,
                preloaded=loaded,
                claim=Claim(key, {"message_id": message_id}),
            )
        except DuplicateClientMessageError:
            return None  # this request was applied already: no second MessageUpdated
        return outcome.updated
