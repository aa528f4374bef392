"""Slash commands: a post that names an enabled extension's command goes to that extension alone.

No message is stored and nothing enters the chat's event log: the api puts one SlashCommandInvoked
on the bus, routed only to the declaring extension, and answers 202 with its command id. The id (and
the event id) derive from the caller and the post's ``client_message_id``, so a client that retries a
post whose answer it lost sends the same command again, and the extension's delivery claim (keyed on
the event id) runs it once. A post without a client id is a new command each time, like a message.
A publish the bus refuses is an error (503): the client retries with the same id. A command counts
toward the member's rate limit like a post (429 past it), written to the chat before it is sent,
once per command id: the count claims the id in its transaction, so a retry is not charged again
(and is taken even at the limit, since it was charged when first sent).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from parley.adapters.dynamodb import Claim, DuplicateClientMessageError, LoadedChat
from parley.catalog import Envelope, SlashCommandInvoked, new_event
from parley.domain import slash
from parley.domain.model import Chat
from parley.errors import ChatCompletedError, ContentionError, PublishError, RateLimitedError
from parley.extensions.manifest import ExtensionDocument
from parley.ports import EventPublisher
from parley.services.chats import ChatService, Identity

COMMAND_KEY_TTL = timedelta(days=1)
"""A command's charge is remembered as a post's client id is: a person's retry comes within hours."""


@dataclass(frozen=True)
class NotACommand:
    """The post is a message. ``read``: the chat as the check read it, which the post reuses as its
    first read; None when the text cannot be a command (nothing was read)."""

    read: LoadedChat | None = None


@dataclass(frozen=True)
class CommandAccepted:
    """What a post that was a command answers (202): the invocation's id and who handles it."""

    command_id: str
    command: str
    extension_id: str
    args: tuple[str, ...]


class SlashCommands:
    def __init__(
        self,
        chats: ChatService,
        registry: Callable[[], Mapping[str, ExtensionDocument]],
        publisher: EventPublisher,
    ) -> None:
        self._chats = chats
        self._registry = registry
        self._publisher = publisher

    def available(self, who: Identity, chat_id: str) -> list[slash.Available]:
        """The commands the chat's members may type, by name (for the composer's autocomplete)."""
        chat = self._chats.get_chat(who, chat_id)
        return [found for _, found in sorted(slash.available(chat, self._registry()).items())]

    def invoke(
        self,
        who: Identity,
        chat_id: str,
        *,
        text: str,
        client_message_id: str | None = None,
        correlation_id: str | None = None,
    ) -> CommandAccepted | NotACommand:
        """Send the post to its command's extension, or not: it is a message (post it unescaped, with
        ``NotACommand.read`` as its first read). Only text that looks like ``/name`` reads the chat."""
        if slash.name_of(text) is None:
            return NotACommand()
        loaded = self._chats.read_as_member(who, chat_id)
        chat = loaded.chat
        found = slash.invocation(text, slash.available(chat, self._registry()))
        if found is None:
            return NotACommand(loaded)
        if chat.status == "completed":
            raise ChatCompletedError("the chat is completed and accepts no changes")
        command_id = slash.command_id(chat_id, who.user_id, client_message_id)
        self._charge(
            who, loaded, command_id, retriable=client_message_id is not None, correlation_id=correlation_id
        )
        envelope = _invoked(chat, who, found, command_id, text, client_message_id, correlation_id)
        try:
            self._publisher.publish([envelope])
        except PublishError as exc:
            raise ContentionError(
                "the command could not be sent right now; retry with the same client_message_id",
                chat_id=chat_id,
            ) from exc
        return CommandAccepted(command_id, found.command, found.extension_id, found.args)

    def _charge(
        self,
        who: Identity,
        loaded: LoadedChat,
        command_id: str,
        *,
        retriable: bool,
        correlation_id: str | None,
    ) -> None:
        """One post of the member's rate limit per command: a retry of it (same id) is not charged again.
        ``loaded`` (the command check's read) is the charge's first read."""
        chat_id = loaded.chat.chat_id
        claim = Claim(command_key(chat_id, command_id), {"command_id": command_id}, COMMAND_KEY_TTL)
        try:
            self._chats.execute_as(
                who,
                chat_id,
                lambda c, now: slash.counted(c, who.user_id, now),
                correlation_id=correlation_id,
                claim=claim if retriable else None,
                preloaded=loaded,
            )
        except DuplicateClientMessageError:
            return  # charged when it was first sent
        except RateLimitedError:
            if not retriable or self._chats.claimed(claim.key) is None:
                raise


def command_key(chat_id: str, command_id: str) -> str:
    """Where a command's charge to its member's rate limit is claimed (its id names the member)."""
    return f"slash-command#{chat_id}#{command_id}"


def _invoked(
    chat: Chat,
    who: Identity,
    found: slash.Invocation,
    command_id: str,
    text: str,
    client_message_id: str | None,
    correlation_id: str | None,
) -> Envelope[SlashCommandInvoked]:
    """The invocation for its extension alone, with an event id as stable as the command id."""
    data = SlashCommandInvoked(
        extension_id=found.extension_id,
        command_id=command_id,
        command=found.command,
        args=found.args,
        raw=text,
        client_message_id=client_message_id,
    )
    envelope = new_event(
        data,
        chat_id=chat.chat_id,
        actor=who.actor,
        correlation_id=correlation_id,
        extensions=(found.extension_id,),
    )
    event_id = str(uuid.uuid5(slash.COMMAND_NAMESPACE, f"event:{command_id}"))
    return envelope.model_copy(
        update={"metadata": envelope.metadata.model_copy(update={"event_id": event_id})}
    )
