"""Chat use cases: authorize, load, decide (pure), commit in one transaction, publish."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from parley.adapters.dynamodb import ChatRepository, DuplicateClientMessageError, LoadedChat
from parley.catalog import (
    SYSTEM,
    Actor,
    Envelope,
    EventData,
    MessageModerated,
    MessageRejected,
    MessageView,
    TurnMode,
    TurnValidationRequested,
    data_model,
    new_event,
)
from parley.clock import utc_now
from parley.domain import commands
from parley.domain import extensions as installs
from parley.domain.model import AIProfile, Chat, ChatSettings, Outcome
from parley.domain.turns import may_post
from parley.errors import (
    ChatCompletedError,
    ChatNotFoundError,
    ConcurrentWriteError,
    ContentionError,
    MessageRejectedError,
    NotYourTurnError,
)
from parley.extensions.hooks import HookRunner, ModerationRequest, TurnRequest, hooked
from parley.extensions.manifest import ExtensionDocument
from parley.observability import logger
from parley.services.moderation import Moderated, moderate, with_rulings
from parley.services.outbox import Outbox

T = TypeVar("T")


@dataclass(frozen=True)
class Identity:
    """The caller, as the API Gateway authorizer vouched for it (JWT `sub` and a display name)."""

    user_id: str
    name: str

    @property
    def actor(self) -> Actor:
        return Actor(id=self.user_id, kind="user", name=self.name)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None


@dataclass(frozen=True)
class PostResult:
    message: MessageView
    replayed: bool


@dataclass(frozen=True)
class AIParticipantSpec:
    id: str
    name: str
    profile: AIProfile = field(default_factory=AIProfile)


@dataclass(frozen=True)
class ExtensionPlatform:
    """What the core needs of the extension platform: the registry (cached) and the hook runner."""

    registry: Callable[[], Mapping[str, ExtensionDocument]]
    hooks: HookRunner


@dataclass(frozen=True)
class Rulings:
    """What a chat's hooks decided about one post, and the records of their decisions."""

    in_turn: bool | None = None
    text: str | None = None
    events: tuple[EventData, ...] = ()


class ChatService:
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
        self._repo = repository
        self._outbox = outbox
        self._clock = clock
        self._new_id = new_id
        self._max_attempts = max_attempts
        self._extensions = extensions

    # -- commands ----------------------------------------------------------------------------------

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
        outcome, envelopes = self._sequence(outcome, who.actor, correlation_id, now, previous=None)
        self._repo.commit(None, outcome, envelopes, now=now)
        self._outbox.publish_committed(envelopes)
        return outcome.chat

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
        return self._execute(
            chat_id,
            who,
            lambda chat, now: commands.join(chat, user_id=who.user_id, name=who.name, now=now),
            correlation_id,
            members_only=False,
        ).chat

    def leave(self, who: Identity, chat_id: str, *, correlation_id: str | None = None) -> None:
        self._execute(chat_id, who, lambda chat, _: commands.leave(chat, user_id=who.user_id), correlation_id)

    def change_settings(
        self, who: Identity, chat_id: str, changes: Mapping[str, Any], *, correlation_id: str | None = None
    ) -> Chat:
        return self._execute(
            chat_id,
            who,
            lambda chat, now: commands.change_settings(chat, user_id=who.user_id, changes=changes, now=now),
            correlation_id,
        ).chat

    def complete(self, who: Identity, chat_id: str, *, correlation_id: str | None = None) -> Chat:
        return self._execute(
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
    ) -> PostResult:
        message_id = self._new_id()

        def post() -> Outcome:
            loaded: LoadedChat | None = None
            try:
                loaded = self._require_member(chat_id, who)
                rulings = self._rule_on_post(loaded.chat, who, text, message_id, correlation_id)

                def decide(chat: Chat, now: datetime) -> Outcome:
                    outcome = commands.post_message(
                        chat,
                        sender_id=who.user_id,
                        text=text,
                        client_message_id=client_message_id,
                        message_id=message_id,
                        now=now,
                        in_turn=rulings.in_turn,
                        text_override=rulings.text,
                    )
                    # the hooks' decisions are recorded in the same transaction as the message
                    return replace(outcome, events=(*rulings.events, *outcome.events))

                return self._execute(
                    chat_id,
                    who,
                    decide,
                    correlation_id,
                    client_message_id=client_message_id,
                    preloaded=loaded,
                )
            except (NotYourTurnError, ChatCompletedError, MessageRejectedError) as exc:
                rejected = MessageRejected(
                    sender_id=who.user_id,
                    reason=exc.code,
                    detail=exc.message,
                    client_message_id=client_message_id,
                    turn_holder_id=exc.details.get("turn_holder_id"),
                )
                routed = installs.routed_to(loaded.chat, rejected) if loaded else ()
                self._outbox.publish_unsequenced(
                    [
                        new_event(
                            rejected,
                            chat_id=chat_id,
                            actor=who.actor,
                            correlation_id=correlation_id,
                            extensions=routed,
                        )
                    ]
                )
                raise

        return self._post_once(
            chat_id,
            who.user_id,
            client_message_id,
            post,
            before_replay=lambda: self._require_member(chat_id, who),
        )

    def _rule_on_post(
        self, chat: Chat, who: Identity, text: str, message_id: str, correlation_id: str | None
    ) -> Rulings:
        """Ask the chat's turn hooks, then its moderation hooks, about a post before it is stored.

        A chat with no enabled extension costs nothing here. A refusal is recorded in the chat's
        event log (with every decision taken so far) and raised; nothing else is written.
        """
        if self._extensions is None or not any(i.enabled for i in chat.extensions.values()):
            return Rulings()
        registry = self._extensions.registry()
        hooks = self._extensions.hooks
        fallback = chat.settings.hook_fallback
        events: list[EventData] = []
        in_turn: bool | None = None
        for document in hooked(chat.extensions, registry, "validate_turn"):
            ruling = hooks.validate_turn(
                document,
                TurnRequest(
                    chat_id=chat.chat_id,
                    message_id=message_id,
                    sender_id=who.user_id,
                    turn_mode=chat.turn_mode,
                    turn_holder_id=chat.turn.holder_id,
                    turn_number=chat.turn.turn_number,
                    in_turn_by_mode=may_post(chat, who.user_id),
                    config=chat.extensions[document.id].config,
                ),
                fallback,
            )
            assert ruling.turn is not None
            events.append(
                TurnValidationRequested(
                    message_id=message_id,
                    sender_id=who.user_id,
                    turn_number=chat.turn.turn_number,
                    extension_id=document.id,
                    allowed=ruling.turn.allow,
                    reason=ruling.turn.reason,
                    outcome=ruling.outcome,
                )
            )
            in_turn = ruling.turn.allow if in_turn is None else in_turn and ruling.turn.allow
            if not ruling.turn.allow:
                self._record(chat.chat_id, who, events, correlation_id)
                raise NotYourTurnError(
                    f"{document.name} ruled it is not your turn: {ruling.turn.reason or 'no reason given'}",
                    turn_holder_id=chat.turn.holder_id,
                    turn_number=chat.turn.turn_number,
                    extension_id=document.id,
                )
        moderators = hooked(chat.extensions, registry, "moderate")
        if not moderators:
            return Rulings(in_turn=in_turn, events=tuple(events))
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
        current = text
        for document in moderators:
            ruling = hooks.moderate(
                document,
                ModerationRequest(
                    chat_id=chat.chat_id,
                    message_id=message_id,
                    sender_id=who.user_id,
                    sender_name=who.name,
                    text=current,
                    config=chat.extensions[document.id].config,
                ),
                fallback,
            )
            decision = ruling.moderation
            assert decision is not None
            events.append(
                MessageModerated(
                    message_id=message_id,
                    sender_id=who.user_id,
                    extension_id=document.id,
                    action=decision.action,
                    reason=decision.reason,
                    outcome=ruling.outcome,
                    elapsed_ms=round(ruling.elapsed_ms, 1),
                )
            )
            if decision.action == "reject":
                self._record(chat.chat_id, who, events, correlation_id)
                raise MessageRejectedError(
                    f"{document.name} rejected the message: {decision.reason or 'no reason given'}",
                    extension_id=document.id,
                    reason=decision.reason,
                    outcome=ruling.outcome,
                )
            if decision.action == "rewrite" and decision.text is not None:
                current = decision.text
        return Rulings(in_turn=in_turn, text=current if current != text else None, events=tuple(events))

    def _record(
        self, chat_id: str, who: Identity | None, events: Sequence[EventData], correlation_id: str | None
    ) -> None:
        """Commit decisions that change no state (a refusal) into the chat's event log."""
        recorded = tuple(events)
        self._execute(chat_id, who, lambda chat, _: Outcome(chat=chat, events=recorded), correlation_id)

    def _post_once(
        self,
        chat_id: str,
        sender_id: str,
        client_message_id: str | None,
        post: Callable[[], Outcome],
        *,
        before_replay: Callable[[], object] | None = None,
    ) -> PostResult:
        """A post runs once per (chat, sender, client_message_id): a repeat, or the loser of a race
        between two identical requests, gets the first message back and stores nothing."""
        if client_message_id is not None:
            earlier = self._repo.client_message(chat_id, sender_id, client_message_id)
            if earlier is not None:
                if before_replay is not None:
                    before_replay()
                return PostResult(earlier, replayed=True)
        try:
            outcome = post()
        except DuplicateClientMessageError:
            earlier = self._repo.client_message(chat_id, sender_id, client_message_id or "")
            if earlier is None:
                raise
            return PostResult(earlier, replayed=True)
        assert outcome.message is not None
        return PostResult(outcome.message, replayed=False)

    def grant_turn(
        self, who: Identity, chat_id: str, participant_id: str, *, correlation_id: str | None = None
    ) -> Chat:
        return self._execute(
            chat_id,
            who,
            lambda chat, now: commands.grant_turn(
                chat, user_id=who.user_id, participant_id=participant_id, now=now
            ),
            correlation_id,
        ).chat

    def expire_turns(self, *, now: datetime, limit: int = 100) -> int:
        """Turn sweeper: move every turn whose deadline has passed; returns how many moved.

        Each chat is decided again under its version condition, so a post that beat the sweeper
        wins, and two sweepers never move the same turn twice.
        """
        moved = 0
        for chat_id in self._repo.due_turns(now=now, limit=limit):
            try:
                outcome = self._execute(
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

        def post() -> Outcome:
            loaded, ruled = self._moderate_for_members(
                chat_id, message_id, participant.id, participant.name or participant.id, text, cause
            )
            return self._execute(
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
                    ),
                    ruled,
                ),
                cause.metadata.correlation_id,
                client_message_id=request_id,
                actor=participant,
                causation_id=cause.metadata.event_id,
                preloaded=loaded,
            )

        return self._post_once(chat_id, participant.id, request_id, post)

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
        self._execute(
            chat_id,
            None,
            lambda chat, now: commands.fail_ai_response(
                chat,
                participant_id=participant.id,
                request_id=request_id,
                reason=reason,
                detail=detail,
                now=now,
            ),
            cause.metadata.correlation_id,
            actor=participant,
            causation_id=cause.metadata.event_id,
        )

    def load(self, chat_id: str) -> Chat | None:
        """The chat as stored, for trusted internal callers (the AI responder); no membership check."""
        loaded = self._repo.load(chat_id)
        return loaded.chat if loaded else None

    def recent_messages(self, chat_id: str, *, up_to: int, limit: int) -> list[MessageView]:
        """The ``limit`` messages up to sequence ``up_to``, oldest first (the AI responder's context)."""
        items, _ = self._repo.messages(chat_id, after=max(0, up_to - limit), before=up_to + 1, limit=limit)
        return items

    def advance_turn(self, chat_id: str, *, cause: Envelope[Any]) -> Outcome | None:
        """Turns handler: reconcile the floor with the chat's state; a no-op for a duplicate."""
        try:
            return self._execute(
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

    # -- queries -----------------------------------------------------------------------------------

    def get_chat(self, who: Identity, chat_id: str) -> Chat:
        return self._require_member(chat_id, who).chat

    def list_my_chats(self, who: Identity) -> list[Chat]:
        chats = []
        for chat_id in self._repo.memberships(who.user_id):
            loaded = self._repo.load(chat_id)
            if loaded and loaded.chat.human(who.user_id):
                chats.append(loaded.chat)
        return chats

    def list_messages(
        self, who: Identity, chat_id: str, *, after: int | None, before: int | None, limit: int
    ) -> Page[MessageView]:
        self._require_member(chat_id, who)
        items, more = self._repo.messages(chat_id, after=after, before=before, limit=limit)
        return Page(items, str(items[-1].sequence) if more and items else None)

    def list_events(
        self, who: Identity, chat_id: str, *, after: int | None, limit: int
    ) -> Page[dict[str, Any]]:
        loaded = self._require_member(chat_id, who)
        items, more = self._repo.events(chat_id, after=after, limit=limit)
        cursor = str(items[-1]["metadata"]["sequence"]) if more and items else None
        if not loaded.chat.is_moderator(who.user_id):
            # notices for moderators stay theirs, as on the sockets; the cursor still moves past them
            items = [d for d in items if data_model(d["metadata"]["event_type"]).audience == "members"]
        return Page(items, cursor)

    # -- the command loop --------------------------------------------------------------------------

    def _require_member(self, chat_id: str, who: Identity) -> LoadedChat:
        loaded = self._repo.load(chat_id)
        if loaded is None or not loaded.chat.human(who.user_id):
            raise ChatNotFoundError("no such chat, or you are not a member of it", chat_id=chat_id)
        return loaded

    def execute(
        self,
        chat_id: str,
        decide: Callable[[Chat, datetime], Outcome],
        *,
        actor: Actor,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        client_message_id: str | None = None,
    ) -> Outcome:
        """A trusted command (the extension gateway's): no member check, decided and committed like any."""
        return self._execute(
            chat_id,
            None,
            decide,
            correlation_id,
            actor=actor,
            causation_id=causation_id,
            client_message_id=client_message_id,
        )

    def execute_as(
        self,
        who: Identity,
        chat_id: str,
        decide: Callable[[Chat, datetime], Outcome],
        *,
        correlation_id: str | None = None,
    ) -> Outcome:
        """A member's command decided outside this service (extension installs)."""
        return self._execute(chat_id, who, decide, correlation_id)

    def post_extension_message(
        self, chat_id: str, *, document: ExtensionDocument, request_id: str, text: str, cause: Envelope[Any]
    ) -> PostResult:
        """An extension's bot message, stored once per (extension, request_id)."""
        message_id = self._new_id()
        sender = f"ext:{document.id}"

        def post() -> Outcome:
            loaded, ruled = self._moderate_for_members(
                chat_id, message_id, sender, document.name, text, cause
            )
            return self._execute(
                chat_id,
                None,
                lambda chat, now: with_rulings(
                    installs.post_extension_message(
                        chat,
                        extension_id=document.id,
                        name=document.name,
                        text=ruled.text,
                        request_id=request_id,
                        message_id=message_id,
                        now=now,
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

        return self._post_once(chat_id, sender, request_id, post)

    def _moderate_for_members(
        self, chat_id: str, message_id: str, sender_id: str, sender_name: str, text: str, cause: Envelope[Any]
    ) -> tuple[LoadedChat | None, Moderated]:
        """The chat's moderation hooks on a message the core stores for an AI or a bot (members see it
        like a post); the chat read here is the commit's first attempt. A rejection is recorded and
        raised. Turn hooks do not apply: bot messages are outside the turn order, and an AI reply is
        the turn order's own request."""
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
            self._record(chat_id, None, ruled.events, cause.metadata.correlation_id)
            raise ruled.refusal
        return loaded, ruled

    def _execute(
        self,
        chat_id: str,
        who: Identity | None,
        decide: Callable[[Chat, datetime], Outcome],
        correlation_id: str | None,
        *,
        members_only: bool = True,
        client_message_id: str | None = None,
        actor: Actor | None = None,
        causation_id: str | None = None,
        preloaded: LoadedChat | None = None,
    ) -> Outcome:
        """Load, decide, commit; on a lost optimistic-concurrency race, decide again on fresh state.

        ``preloaded`` is the caller's fresh read, used for the first attempt instead of a second one."""
        for attempt in range(1, self._max_attempts + 1):
            loaded = preloaded if attempt == 1 and preloaded is not None else self._repo.load(chat_id)
            if loaded is None or (members_only and who is not None and not loaded.chat.human(who.user_id)):
                raise ChatNotFoundError("no such chat, or you are not a member of it", chat_id=chat_id)
            now = self._clock()
            outcome = decide(loaded.chat, now)
            if outcome.chat == loaded.chat and not outcome.events:
                return outcome
            outcome, envelopes = self._sequence(
                outcome,
                actor or (who.actor if who else SYSTEM),
                correlation_id,
                now,
                causation_id=causation_id,
                previous=loaded.chat,
            )
            try:
                self._repo.commit(loaded, outcome, envelopes, client_message_id=client_message_id, now=now)
            except ConcurrentWriteError:
                # full jitter keeps colliding writers from colliding again in lock step
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            self._outbox.publish_committed(envelopes)
            return outcome
        raise ContentionError(f"chat {chat_id} is too busy right now; retry shortly", chat_id=chat_id)

    @staticmethod
    def _sequence(
        outcome: Outcome,
        actor: Actor,
        correlation_id: str | None,
        now: datetime,
        *,
        causation_id: str | None = None,
        previous: Chat | None,
    ) -> tuple[Outcome, list[Envelope[EventData]]]:
        """Wrap the decided events in envelopes numbered after the chat's last event-log sequence,
        stamped with the chat's roster version (bumped here when participants or roles changed)."""
        base = outcome.chat.last_event_sequence
        roster = outcome.chat.roster_version
        if previous is None or previous.participants != outcome.chat.participants or roster == 0:
            roster = (previous.roster_version if previous else 0) + 1
        envelopes: list[Envelope[EventData]] = []
        for offset, data in enumerate(outcome.events, start=1):
            envelope = new_event(
                data,
                chat_id=outcome.chat.chat_id,
                actor=actor,
                correlation_id=correlation_id,
                causation_id=causation_id,
                occurred_at=now,
            ).with_sequence(
                base + offset, roster_version=roster, extensions=installs.routed_to(outcome.chat, data)
            )
            envelopes.append(envelope)
            # one flow per request: later events share the first one's correlation id
            correlation_id = correlation_id or envelope.metadata.correlation_id
        chat = outcome.chat.model_copy(
            update={"last_event_sequence": base + len(envelopes), "roster_version": roster}
        )
        return replace(outcome, chat=chat), envelopes
