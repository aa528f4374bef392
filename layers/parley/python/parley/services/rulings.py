"""Hook rulings: a chat's turn hooks, then its moderation hooks, decide about a post before it is stored.

A chat with no enabled extension costs nothing here. A refusal is recorded in the chat's event log
(with every decision taken so far) and raised; nothing else is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from parley.catalog import Audience, EventData, ExtensionShadowOutput, TurnValidationRequested
from parley.domain import audience, commands
from parley.domain.model import Chat
from parley.domain.turns import may_post
from parley.errors import NotYourTurnError
from parley.extensions.hooks import HookRunner, Ruling, TurnRequest, hooked, shadowed
from parley.extensions.manifest import ExtensionDocument
from parley.services.moderation import moderate
from parley.services.unit_of_work import Identity

Record = Callable[[str, Identity | None, Sequence[EventData], str | None, Audience | None], None]
"""Commits decisions that change no state into a chat's event log, for an audience (``UnitOfWork.record``)."""


@dataclass(frozen=True)
class ExtensionPlatform:
    """What the core needs of the extension platform: the registry (cached) and the hook runner."""

    registry: Callable[[], Mapping[str, ExtensionDocument]]
    hooks: HookRunner


TurnBasis = tuple[object, ...]


def turn_basis(chat: Chat, user_id: str) -> TurnBasis:
    """What a turn hook is shown (``TurnRequest``) and its ruling holds for: the mode, the floor and
    the turn hooks' installs; the ruling is void once any of it moved."""
    hooks = tuple((k, i.enabled, i.config) for k, i in sorted(chat.extensions.items()))
    turn = chat.turn
    return (chat.turn_mode, turn.holder_id, turn.turn_number, turn.consumed, may_post(chat, user_id), hooks)


class StaleRulingError(Exception):
    """The chat's turn moved between the turn hooks' ruling and the commit: ask them again."""


@dataclass(frozen=True)
class Rulings:
    """What a chat's hooks decided about one post, and the records of their decisions.

    ``basis`` is the chat's turn state the turn hooks ruled against (None: no turn hook ruled)."""

    in_turn: bool | None = None
    text: str | None = None
    events: tuple[EventData, ...] = ()
    basis: TurnBasis | None = None

    def check(self, chat: Chat, user_id: str) -> None:
        """Raise StaleRulingError when the turn hooks ruled on a turn state the chat has left."""
        if self.basis is not None and turn_basis(chat, user_id) != self.basis:
            raise StaleRulingError()


@dataclass(frozen=True)
class _Post:
    """The post being ruled on, and the decisions taken about it so far."""

    chat: Chat
    who: Identity
    text: str
    message_id: str
    correlation_id: str | None
    audience: Audience | None = None
    """A whisper's sender and addressees (its refusal is theirs too); None for a public post."""
    events: list[EventData] = field(default_factory=list)


class PostRulings:
    def __init__(self, platform: ExtensionPlatform, record: Record, clock: Callable[[], datetime]) -> None:
        self._platform = platform
        self._record = record
        self._clock = clock

    def rule(
        self,
        chat: Chat,
        who: Identity,
        text: str,
        message_id: str,
        correlation_id: str | None,
        to: Sequence[str] | None = None,
    ) -> Rulings:
        """Ask the chat's turn hooks, then its moderation hooks, about a post before it is stored.

        ``to``: the post is a whisper to those members, validated first (no hook budget is spent on
        a post that would be refused anyway), so a refusal is recorded for its people only."""
        if not any(i.enabled for i in chat.extensions.values()):
            return Rulings()
        addressees = audience.whisper_to(who.user_id, to, (p.id for p in chat.participants))
        scope = None if addressees is None else (who.user_id, *addressees)
        registry = self._platform.registry()
        post = _Post(chat, who, text, message_id, correlation_id, scope)
        self._shadow_turn(post, registry)  # recorded even when a live hook refuses the post
        in_turn = self._rule_turn(post, hooked(chat.extensions, registry, "validate_turn"))
        basis = turn_basis(chat, who.user_id) if in_turn is not None else None
        moderators = hooked(chat.extensions, registry, "moderate")
        if not moderators and not shadowed(chat.extensions, registry, "moderate"):
            return Rulings(in_turn=in_turn, events=tuple(post.events), basis=basis)
        # refuse what would fail anyway (turn, rate limit, length) before spending hook budgets
        commands.post_message(
            chat,
            sender_id=who.user_id,
            text=text,
            client_message_id=None,
            message_id=message_id,
            now=self._clock(),
            in_turn=in_turn,
        )
        current = self._moderate(post)
        changed = current if current != text else None
        return Rulings(in_turn=in_turn, text=changed, events=tuple(post.events), basis=basis)

    def _rule_turn(self, post: _Post, validators: Sequence[ExtensionDocument]) -> bool | None:
        """Every turn hook must allow the post; None when the chat has none (its mode decides)."""
        chat = post.chat
        in_turn: bool | None = None
        for document in validators:
            ruling = self._platform.hooks.validate_turn(
                document, _turn_request(post, document), chat.settings.hook_fallback
            )
            assert ruling.turn is not None
            post.events.append(_turn_validated(post, document, ruling))
            in_turn = ruling.turn.allow if in_turn is None else in_turn and ruling.turn.allow
            if not ruling.turn.allow:
                self._refused(post)
                raise NotYourTurnError(
                    f"{document.name} ruled it is not your turn: {ruling.turn.reason or 'no reason given'}",
                    turn_holder_id=chat.turn.holder_id,
                    turn_number=chat.turn.turn_number,
                    extension_id=document.id,
                )
        return in_turn

    def _shadow_turn(self, post: _Post, registry: Mapping[str, ExtensionDocument]) -> None:
        """Turn rulings of shadow installs and shadow configs, recorded for moderators, never applied."""
        for document, config, which in shadowed(post.chat.extensions, registry, "validate_turn"):
            request = _turn_request(post, document).model_copy(update={"config": config})
            ruling = self._platform.hooks.validate_turn(document, request, post.chat.settings.hook_fallback)
            ruled = _turn_validated(post, document, ruling).model_dump(mode="json")
            post.events.append(
                ExtensionShadowOutput(
                    extension_id=document.id,
                    output_type="TurnValidationRequested",
                    output=ruled,
                    config=which,
                )
            )

    def _moderate(self, post: _Post) -> str:
        """The text after every moderator's say (the same pass AI and bot messages get)."""
        ruled = moderate(
            post.chat,
            self._platform.registry(),
            self._platform.hooks,
            message_id=post.message_id,
            sender_id=post.who.user_id,
            sender_name=post.who.name,
            text=post.text,
        )
        post.events.extend(ruled.events)
        if ruled.refusal is not None:
            self._refused(post)
            raise ruled.refusal
        return ruled.text

    def _refused(self, post: _Post) -> None:
        self._record(post.chat.chat_id, post.who, post.events, post.correlation_id, post.audience)


def _turn_request(post: _Post, document: ExtensionDocument) -> TurnRequest:
    chat = post.chat
    return TurnRequest(
        chat_id=chat.chat_id,
        message_id=post.message_id,
        sender_id=post.who.user_id,
        turn_mode=chat.turn_mode,
        turn_holder_id=chat.turn.holder_id,
        turn_number=chat.turn.turn_number,
        in_turn_by_mode=may_post(chat, post.who.user_id),
        config=chat.extensions[document.id].config,
    )


def _turn_validated(post: _Post, document: ExtensionDocument, ruling: Ruling) -> TurnValidationRequested:
    assert ruling.turn is not None
    return TurnValidationRequested(
        message_id=post.message_id,
        sender_id=post.who.user_id,
        turn_number=post.chat.turn.turn_number,
        extension_id=document.id,
        allowed=ruling.turn.allow,
        reason=ruling.turn.reason,
        outcome=ruling.outcome,
    )
