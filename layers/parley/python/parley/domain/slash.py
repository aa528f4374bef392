"""Slash commands as pure decisions: which post is a command, for which extension, with which args.

A post whose text starts with ``/<name>`` where ``<name>`` is a command of an extension enabled on the
chat is a command, not a message. Anything else stays a message: an unknown ``/word`` (a typo or a
path, say) is posted as typed, and ``//text`` posts ``/text`` (the escape for a message that starts
with a command's name). A command name belongs to one enabled extension per chat: enabling a second
that declares it is refused (``conflict``); should two still claim it (a registry update after they
were enabled), the smallest extension id answers, deterministically, and the commands list shows it.
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from parley.catalog import MAX_COMMAND_ARGS
from parley.domain.commands import _rate_limit
from parley.domain.model import Chat, Outcome
from parley.errors import InvalidRequestError
from parley.extensions.manifest import ExtensionDocument, SlashCommand

COMMAND = re.compile(r"^/([a-z][a-z0-9_-]{0,31})(?=\s|$)")
ESCAPE = "//"
COMMAND_NAMESPACE = uuid.UUID("0d4f5c1e-7a3b-4f0e-9d61-3c2b8e9a4f17")
CURLY_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
"""Phones type curly quotes: `/poll “Lunch?”` groups like `/poll "Lunch?"`."""


@dataclass(frozen=True)
class Available:
    """A command a chat's members may type: its declaration and the extension that answers it."""

    extension_id: str
    command: SlashCommand


@dataclass(frozen=True)
class Invocation:
    """A post that is a command: for ``extension_id``, with its args split shell-like."""

    extension_id: str
    command: str
    args: tuple[str, ...]


def available(chat: Chat, registry: Mapping[str, ExtensionDocument]) -> dict[str, Available]:
    """Every command of the chat's live extensions, by name; a name two claim goes to the smaller id.
    A shadow install answers none: its outputs are only recorded, so a command it took would vanish."""
    found: dict[str, Available] = {}
    live = (k for k, install in chat.extensions.items() if install.enabled and not install.shadow)
    for extension_id in sorted(live):
        document = registry.get(extension_id)
        for command in document.commands if document else ():
            found.setdefault(command.name, Available(extension_id, command))
    return found


def name_of(text: str) -> str | None:
    """The command name a post starts with (``/poll ...`` is ``poll``), or None: not a command."""
    match = COMMAND.match(text)
    return match.group(1) if match else None


def unescaped(text: str) -> str:
    """A post's text as stored: ``//text`` is the message ``/text``."""
    return text[1:] if text.startswith(ESCAPE) else text


def invocation(text: str, commands: Mapping[str, Available]) -> Invocation | None:
    """The command this post invokes on a chat with these commands, or None (a message)."""
    name = name_of(text)
    if name is None or name not in commands:
        return None
    return Invocation(commands[name].extension_id, name, split_args(text[len(name) + 1 :]))


def split_args(rest: str) -> tuple[str, ...]:
    """Shell-like: words, and quoted strings kept whole (``"Lunch?" 'Pizza place'``)."""
    try:
        args = tuple(shlex.split(rest.translate(CURLY_QUOTES)))
    except ValueError as exc:
        raise InvalidRequestError(f"the command's arguments do not parse: {exc}", field="text") from exc
    if len(args) > MAX_COMMAND_ARGS:
        raise InvalidRequestError(
            f"a command takes at most {MAX_COMMAND_ARGS} arguments; this one has {len(args)}", field="text"
        )
    return args


def command_id(chat_id: str, user_id: str, client_message_id: str | None) -> str:
    """The invocation's id: the same for a retried post (same client id), so it is handled once."""
    if client_message_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(COMMAND_NAMESPACE, f"{chat_id}\n{user_id}\n{client_message_id}"))


def conflict(chat: Chat, document: ExtensionDocument, registry: Mapping[str, ExtensionDocument]) -> None:
    """Refuse enabling ``document`` on a chat where another live extension declares one of its
    commands: a command name answers to one extension per chat (a shadow install claims none)."""
    taken = {
        name: found.extension_id
        for name, found in available(chat, registry).items()
        if found.extension_id != document.id
    }
    clashes = sorted(f"/{c.name} ({taken[c.name]})" for c in document.commands if c.name in taken)
    if clashes:
        raise InvalidRequestError(
            f"{document.id} declares commands another enabled extension answers here: "
            f"{', '.join(clashes)}; disable that one first",
            field="enabled",
        )


def counted(chat: Chat, user_id: str, now: datetime) -> Outcome:
    """A command costs its member one post of the chat's rate limit (RateLimitedError past it), like
    an action: a loop of commands cannot flood the bus, the extension or its store."""
    return Outcome(chat=chat.model_copy(update={"recent_posts": _rate_limit(chat, user_id, now.timestamp())}))
