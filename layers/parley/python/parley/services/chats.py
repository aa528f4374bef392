"""Chat commands: authorize, load, decide (pure), commit in one transaction, publish.

The pieces live beside it, one idea each: ``unit_of_work`` (load, decide, commit, retry, publish),
``rulings`` (extension hooks on a post), ``chat_queries`` (what members read). Importers keep using
this module: it re-exports the names they need.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from parley.adapters.dynamodb import ChatRepository, Claim, LoadedChat
from parley.blocks import Block, visible_text
from parley.catalog import (
    Actor,
    Audience,
    Envelope,
    MessageRejected,
    TurnMode,
    extension_message_id,
    new_event,
)
from parley.clock import utc_now
from parley.domain import audience, commands
from parley.domain import extensions as installs
from parley.domain.model import AIProfile, Chat, ChatSettings, Outcome
from parley.errors import (
    ChatCompletedError,
    ChatNotFoundError,
    ContentionError,
    MessageRejectedError,
    NotYourTurnError,
)
from parley.extensions.hooks import hooked
from parley.extensions.manifest import ExtensionDocument
from parley.observability import logger
from parley.services.chat_queries import ChatQueries, Page
from parley.services.interactions import Interactions
from parley.services.moderation import Moderated, moderate, with_rulings
from parley.services.outbox import Outbox
from parley.services.read_filters import ReadFilters
from parley.services.rulings import ExtensionPlatform, PostRulings, Rulings, StaleRulingError
from parley.services.unit_of_work import Identity, PostResult, UnitOfWork

__all__ = [
    "AIParticipantSpec",
    "ChatService",
    "ExtensionPlatform",
    "Identity",
    "Page",
    "PostResult",
    "Rulings",
]


@dataclass(frozen=True)
class AIParticipantSpec:
    id: str
    name: str
    profile: AIProfile = field(default_factory=AIProfile)


class ChatService(ChatQueries):
    """The chat's commands, on top of its queries; every change goes through the unit of work."""

    def __init__(
        self,
        repository: ChatRepository,
        outbox: Outbox,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        max_attempts: int = 40,
        extensions: ExtensionPlatform | None = None,
    ) -> None:
        filters = ReadFilters(repository, extensions.registry, extensions.hooks) if extensions else None
        super().__init__(repository, filters)
        self._outbox = outbox
        self._clock = clock
        self._new_id = new_id
        self._extensions = extensions
        self._uow = UnitOfWork(
            repository, clock=clock, max_attempts=max_attempts, reads_private=self._reads_private
        )
        self._rulings = PostRulings(extensions, self._uow.record, clock) if extensions else None
        self.interactions = Interactions(repository, self._uow, self._moderate_for_members, new_id)

    def _reads_private(self, extension_id: str) -> bool:
        """Whether an extension holds the capability to receive whispers not addressed to it."""
        document = self._extensions.registry().get(extension_id) if self._extensions else None
        return document is not None and document.can(audience.READ_PRIVATE)

    def create_chat(
        self,
        who: Identity,
        *,
        title: str,
        turn_mode: TurnMode,
        ai_participants: Sequence[AIParticipantSpec] = (),
        settings: ChatSettings | None = None,
        correlation_id: str | None = None,
    ) -> Chat:
        now = self._clock()
        outcome = commands.create_chat(
            chat_id=self._new_id(),
            creator_id=who.user_id,
            creator_name=who.name,
            title=title,
            turn_mode=turn_mode,
            ai_participants=[(a.id, a.name, a.profile) for a in ai_participants],
            settings=settings or ChatSettings(),
            now=now,
        )
        outcome = self._install_defaults(outcome, now)
        return self._uow.create(outcome, who.actor, correlation_id, now).chat

    def _install_defaults(self, outcome: Outcome, now: datetime) -> Outcome:
        """Extensions registered with ``default_install`` come installed and enabled on a new chat."""
        if self._extensions is None:
            return outcome
        chat, events = outcome.chat, list(outcome.events)
        for document in sorted(self._extensions.registry().values(), key=lambda d: d.id):
            if document.default_install:
                installed = installs.put_install(
                    chat,
                    user_id=None,
                    extension_id=document.id,
                    version=document.version,
                    enabled=True,
                    config={},
                    now=now,
                )
                chat, events = installed.chat, [*events, *installed.events]
        return replace(outcome, chat=chat, events=tuple(events))

    def join(self, who: Identity, chat_id: str, *, correlation_id: str | None = None) -> Chat:
        return self._uow.execute(
            chat_id,
            who,
            lambda chat, now: commands.join(chat, user_id=who.user_id, name=who.name, now=now),
            correlation_id,
            members_only=False,
        ).chat

    def leave(self, who: Identity, chat_id: str, *, correlation_id: str | None = None) -> None:
        self._uow.execute(
            chat_id, who, lambda chat, _: commands.leave(chat, user_id=who.user_id), correlation_id
        )

    def change_settings(
        self, who: Identity, chat_id: str, changes: Mapping[str, Any], *, correlation_id: str | None = None
    ) -> Chat:
        return self._uow.execute(
            chat_id,
            who,
            lambda chat, now: commands.change_settings(chat, user_id=who.user_id, changes=changes, now=now),
            correlation_id,
        ).chat

    def complete(self, who: Identity, chat_id: str, *, correlation_id: str | None = None) -> Chat:
        return self._uow.execute(
            chat_id, who, lambda chat, _: commands.complete(chat, user_id=who.user_id), correlation_id
        ).chat

    def post_message(
        self,
        who: Identity,
        chat_id: str,
        *,
        text: str,
        client_message_id: str | None = None,
        correlation_id: str | None = None,
        to: Sequence[str] | None = None,
        origin_connection_id: str | None = None,
        preloaded: LoadedChat | None = None,
    ) -> PostResult:
        """``to``: a whisper to those members (the sender implied); None posts to everyone.
        ``preloaded``: the caller's fresh member read (``read_as_member``), the first attempt's."""
        message_id = self._new_id()
        read: list[LoadedChat] = []

        def post() -> Outcome:
            for attempt in range(RULING_ATTEMPTS):
                fresh = preloaded if attempt == 0 and preloaded is not None else None
                loaded = fresh or self._require_member(chat_id, who)
                read[:] = [loaded]
                rulings = (
                    self._rulings.rule(loaded.chat, who, text, message_id, correlation_id, to)
                    if self._rulings
                    else Rulings()
                )
                decide = _decide_post(who, text, client_message_id, message_id, rulings, to)
                try:
                    return self._uow.execute(
                        chat_id,
                        who,
                        decide,
                        correlation_id,
                        client_message_id=client_message_id,
                        preloaded=loaded,
                        origin_connection_id=origin_connection_id,
                    )
                except StaleRulingError:
                    continue  # the floor moved after the turn hooks ruled: they rule again
            raise ContentionError(f"chat {chat_id}'s turn kept moving; retry shortly", chat_id=chat_id)

        try:
            return self._uow.post_once(
                chat_id,
                who.user_id,
                client_message_id,
                post,
                before_replay=lambda: self._require_member(chat_id, who),
            )
        except (NotYourTurnError, ChatCompletedError, MessageRejectedError) as exc:
            # after post_once: a repeat of a stored post is answered with it, never announced refused
            self._publish_rejection(
                exc, read[-1] if read else None, chat_id, who, client_message_id, correlation_id, to
            )
            raise

    def _publish_rejection(
        self,
        exc: NotYourTurnError | ChatCompletedError | MessageRejectedError,
        loaded: LoadedChat | None,
        chat_id: str,
        who: Identity,
        client_message_id: str | None,
        correlation_id: str | None,
        to: Sequence[str] | None = None,
    ) -> None:
        """A refused post is announced on the bus, unsequenced: nothing was stored. A refused
        whisper's notice keeps the whisper's audience: its reason may quote the text."""
        rejected = MessageRejected(
            sender_id=who.user_id,
            reason=exc.code,
            detail=exc.message,
            client_message_id=client_message_id,
            turn_holder_id=exc.details.get("turn_holder_id"),
        )
        scope: Audience = audience.EVERYONE if to is None else (who.user_id, *dict.fromkeys(to))
        routed = installs.routed_to(loaded.chat, rejected) if loaded else ()
        envelope = new_event(
            rejected,
            chat_id=chat_id,
            actor=who.actor,
            correlation_id=correlation_id,
            extensions=[e for e in routed if audience.extension_may_see(e, scope, self._reads_private)],
        )
        if to is not None:
            envelope = envelope.model_copy(
                update={"metadata": envelope.metadata.model_copy(update={"audience": scope})}
            )
        self._outbox.publish_unsequenced([envelope])

    def grant_turn(
        self, who: Identity, chat_id: str, participant_id: str, *, correlation_id: str | None = None
    ) -> Chat:
        return self._uow.execute(
            chat_id,
            who,
            lambda chat, now: commands.grant_turn(
                chat, user_id=who.user_id, participant_id=participant_id, now=now
            ),
            correlation_id,
        ).chat

    def expire_turns(self, *, now: datetime, limit: int = 100, due: Sequence[str] | None = None) -> int:
        """Turn sweeper: move every turn whose deadline has passed; returns how many moved.

        Each chat is decided again under its version condition, so a post that beat the sweeper
        wins, and two sweepers never move the same turn twice. ``due``: the chats the sweeper already
        found due (it reads the index before it loads this service), else the index is read here.
        """
        moved = 0
        for chat_id in self._repo.due_turns(now=now, limit=limit) if due is None else due[:limit]:
            try:
                outcome = self._uow.execute(
                    chat_id,
                    None,
                    lambda chat, at: commands.expire_turn(chat, now=at),
                    None,
                    actor=Actor(id="turns", kind="system", name="Parley"),
                )
            except ChatNotFoundError:
                continue
            moved += bool(outcome.events)
        return moved

    def post_ai_reply(
        self,
        chat_id: str,
        *,
        participant: Actor,
        request_id: str,
        text: str,
        timings: Mapping[str, float],
        cause: Envelope[Any],
    ) -> PostResult:
        """Store an AI participant's reply with its AIResponseCompleted; the request id is its
        client_message_id, so a duplicate request returns the first reply and stores nothing."""
        message_id = self._new_id()

        to = audience.reply_to(audience.audience_of(cause), participant.id)

        def post() -> Outcome:
            loaded, ruled = self._moderate_for_members(
                chat_id,
                message_id,
                participant.id,
                participant.name or participant.id,
                text,
                cause,
                None if to is None else (participant.id, *to),
            )
            return self._uow.execute(
                chat_id,
                None,
                lambda chat, now: with_rulings(
                    commands.post_ai_reply(
                        chat,
                        participant_id=participant.id,
                        request_id=request_id,
                        text=ruled.text,
                        message_id=message_id,
                        now=now,
                        time_to_first_token_ms=timings["time_to_first_token_ms"],
                        duration_ms=timings["duration_ms"],
                        input_tokens=int(timings["input_tokens"]),
                        output_tokens=int(timings["output_tokens"]),
                        to=to,
                    ),
                    ruled,
                ),
                cause.metadata.correlation_id,
                client_message_id=request_id,
                actor=participant,
                causation_id=cause.metadata.event_id,
                preloaded=loaded,
            )

        return self._uow.post_once(chat_id, participant.id, request_id, post)

    def fail_ai_response(
        self,
        chat_id: str,
        *,
        participant: Actor,
        request_id: str,
        reason: commands.FailureReason,
        detail: str,
        cause: Envelope[Any],
    ) -> None:
        """Record the failure for those the reply would have reached: a whisper's people only."""
        self._uow.execute(
            chat_id,
            None,
            lambda chat, now: commands.fail_ai_response(
                chat,
                participant_id=participant.id,
                request_id=request_id,
                reason=reason,
                detail=detail,
                now=now,
                to=audience.reply_to(audience.audience_of(cause), participant.id),
            ),
            cause.metadata.correlation_id,
            actor=participant,
            causation_id=cause.metadata.event_id,
        )

    def advance_turn(self, chat_id: str, *, cause: Envelope[Any]) -> Outcome | None:
        """Turns handler: reconcile the floor with the chat's state; a no-op for a duplicate."""
        try:
            return self._uow.execute(
                chat_id,
                None,
                lambda chat, now: commands.advance_turn(chat, now=now),
                cause.metadata.correlation_id,
                actor=Actor(id="turns", kind="system", name="Parley"),
                causation_id=cause.metadata.event_id,
            )
        except ChatNotFoundError:
            logger.warning("event for an unknown chat", extra={"chat_id": chat_id})
            return None

    def execute(
        self,
        chat_id: str,
        decide: Callable[[Chat, datetime], Outcome],
        *,
        actor: Actor,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        client_message_id: str | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """A trusted command (the extension gateway's): no member check, decided and committed like any;
        ``claim`` makes it once per key (a repeat raises ``DuplicateClientMessageError``)."""
        return self._uow.execute(
            chat_id,
            None,
            decide,
            correlation_id,
            actor=actor,
            causation_id=causation_id,
            client_message_id=client_message_id,
            claim=claim,
        )

    def execute_as(
        self,
        who: Identity,
        chat_id: str,
        decide: Callable[[Chat, datetime], Outcome],
        *,
        correlation_id: str | None = None,
        claim: Claim | None = None,
        preloaded: LoadedChat | None = None,
    ) -> Outcome:
        """A member's command decided outside this service (extension installs, a slash command's
        charge); ``claim`` makes it once per key (a repeat raises ``DuplicateClientMessageError``);
        ``preloaded``: the caller's fresh read, the first attempt's."""
        return self._uow.execute(chat_id, who, decide, correlation_id, claim=claim, preloaded=preloaded)

    def claimed(self, key: str) -> dict[str, Any] | None:
        """What a ``Claim`` recorded, if the change that took it was committed."""
        return self._repo.claimed(key)

    def post_extension_message(
        self,
        chat_id: str,
        *,
        document: ExtensionDocument,
        request_id: str,
        text: str,
        cause: Envelope[Any],
        blocks: Sequence[Block] | None = None,
    ) -> PostResult:
        """An extension's bot message, stored once per (extension, request_id), under the id the
        extension was told (``extension_message_id``). Moderation rules on its text and its blocks'
        visible texts; a rewrite stores the rewritten text without the blocks it ruled on."""
        message_id = extension_message_id(document.id, request_id)
        sender = f"ext:{document.id}"
        shown = "\n".join([text, visible_text(blocks)]) if blocks else text

        def post() -> Outcome:
            loaded, ruled = self._moderate_for_members(
                chat_id, message_id, sender, document.name, shown, cause
            )
            kept = (text, blocks) if ruled.text == shown else (ruled.text, None)
            return self._uow.execute(
                chat_id,
                None,
                lambda chat, now: with_rulings(
                    installs.post_extension_message(
                        chat,
                        extension_id=document.id,
                        name=document.name,
                        text=kept[0],
                        request_id=request_id,
                        message_id=message_id,
                        now=now,
                        blocks=kept[1],
                    ),
                    ruled,
                ),
                cause.metadata.correlation_id,
                # the core stores it: a core event (source parley.core); the message names the bot
                actor=Actor(id=f"ext:{document.id}", kind="system", name=document.name),
                causation_id=cause.metadata.event_id,
                client_message_id=request_id,
                preloaded=loaded,
            )

        return self._uow.post_once(chat_id, sender, request_id, post)

    def moderated(self, chat: Chat) -> bool:
        """The chat's moderation hooks or read filters rule on what members see: an AI reply is
        held back until it is stored, never streamed as a draft (chunks would pass both)."""
        if self._extensions is None:
            return False
        registry = self._extensions.registry()
        return any(hooked(chat.extensions, registry, kind) for kind in ("moderate", "on_read"))

    def _moderate_for_members(
        self,
        chat_id: str,
        message_id: str,
        sender_id: str,
        sender_name: str,
        text: str,
        cause: Envelope[Any],
        scope: Audience | None = None,
    ) -> tuple[LoadedChat | None, Moderated]:
        """The chat's moderation hooks on a message the core stores for an AI or a bot (members see it
        like a post); the chat read here is the commit's first attempt. A rejection is recorded and
        raised. Turn hooks do not apply: bot messages are outside the turn order, and an AI reply is
        the turn order's own request. ``scope``: the message's audience (an AI's whispered reply),
        which its recorded rejection keeps: the rulings quote or rewrite its text."""
        loaded = self._repo.load(chat_id)
        if loaded is None or self._extensions is None:
            return loaded, Moderated(text=text)
        ruled = moderate(
            loaded.chat,
            self._extensions.registry(),
            self._extensions.hooks,
            message_id=message_id,
            sender_id=sender_id,
            sender_name=sender_name,
            text=text,
        )
        if ruled.refusal is not None:
            self._uow.record(chat_id, None, ruled.events, cause.metadata.correlation_id, scope)
            raise ruled.refusal
        return loaded, ruled


RULING_ATTEMPTS = 5
"""Turn hooks asked again at most this often for one post whose floor keeps moving under it."""


def _decide_post(
    who: Identity,
    text: str,
    client_message_id: str | None,
    message_id: str,
    rulings: Rulings,
    to: Sequence[str] | None = None,
) -> Callable[[Chat, datetime], Outcome]:
    """The post's decision on the chat as the commit reads it, with the hooks' rulings: a turn
    hook's holds only for the turn state it ruled on (a lost race re-reads a chat that moved)."""

    def decide(chat: Chat, now: datetime) -> Outcome:
        rulings.check(chat, who.user_id)
        outcome = commands.post_message(
            chat,
            sender_id=who.user_id,
            text=text,
            client_message_id=client_message_id,
            message_id=message_id,
            now=now,
            in_turn=rulings.in_turn,
            text_override=rulings.text,
            to=to,
        )
        # the hooks' decisions are recorded in the same transaction as the message
        return replace(outcome, events=(*rulings.events, *outcome.events))

    return decide
