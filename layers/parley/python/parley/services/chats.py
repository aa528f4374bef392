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
    MessageRejected,
    MessageView,
    TurnMode,
    new_event,
)
from parley.clock import utc_now
from parley.domain import commands
from parley.domain.model import AIProfile, Chat, ChatSettings, Outcome
from parley.errors import (
    ChatCompletedError,
    ChatNotFoundError,
    ConcurrentWriteError,
    ContentionError,
    NotYourTurnError,
)
from parley.observability import logger
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


class ChatService:
    def __init__(
        self,
        repository: ChatRepository,
        outbox: Outbox,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        max_attempts: int = 40,
    ) -> None:
        self._repo = repository
        self._outbox = outbox
        self._clock = clock
        self._new_id = new_id
        self._max_attempts = max_attempts

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
        outcome, envelopes = self._sequence(outcome, who.actor, correlation_id, now)
        self._repo.commit(None, outcome, envelopes, now=now)
        self._outbox.publish_committed(envelopes)
        return outcome.chat

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
            try:
                return self._execute(
                    chat_id,
                    who,
                    lambda chat, now: commands.post_message(
                        chat,
                        sender_id=who.user_id,
                        text=text,
                        client_message_id=client_message_id,
                        message_id=message_id,
                        now=now,
                    ),
                    correlation_id,
                    client_message_id=client_message_id,
                )
            except (NotYourTurnError, ChatCompletedError) as exc:
                rejected = MessageRejected(
                    sender_id=who.user_id,
                    reason=exc.code,
                    detail=exc.message,
                    client_message_id=client_message_id,
                    turn_holder_id=exc.details.get("turn_holder_id"),
                )
                self._outbox.publish_unsequenced(
                    [new_event(rejected, chat_id=chat_id, actor=who.actor, correlation_id=correlation_id)]
                )
                raise

        return self._post_once(
            chat_id,
            who.user_id,
            client_message_id,
            post,
            before_replay=lambda: self._require_member(chat_id, who),
        )

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
        return self._post_once(
            chat_id,
            participant.id,
            request_id,
            lambda: self._execute(
                chat_id,
                None,
                lambda chat, now: commands.post_ai_reply(
                    chat,
                    participant_id=participant.id,
                    request_id=request_id,
                    text=text,
                    message_id=message_id,
                    now=now,
                    time_to_first_token_ms=timings["time_to_first_token_ms"],
                    duration_ms=timings["duration_ms"],
                    input_tokens=int(timings["input_tokens"]),
                    output_tokens=int(timings["output_tokens"]),
                ),
                cause.metadata.correlation_id,
                client_message_id=request_id,
                actor=participant,
                causation_id=cause.metadata.event_id,
            ),
        )

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
        self._require_member(chat_id, who)
        items, more = self._repo.events(chat_id, after=after, limit=limit)
        return Page(items, str(items[-1]["metadata"]["sequence"]) if more and items else None)

    # -- the command loop --------------------------------------------------------------------------

    def _require_member(self, chat_id: str, who: Identity) -> LoadedChat:
        loaded = self._repo.load(chat_id)
        if loaded is None or not loaded.chat.human(who.user_id):
            raise ChatNotFoundError("no such chat, or you are not a member of it", chat_id=chat_id)
        return loaded

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
    ) -> Outcome:
        """Load, decide, commit; on a lost optimistic-concurrency race, decide again on fresh state."""
        for attempt in range(1, self._max_attempts + 1):
            loaded = self._repo.load(chat_id)
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
    ) -> tuple[Outcome, list[Envelope[EventData]]]:
        """Wrap the decided events in envelopes numbered after the chat's last event-log sequence."""
        base = outcome.chat.last_event_sequence
        envelopes: list[Envelope[EventData]] = []
        for offset, data in enumerate(outcome.events, start=1):
            envelope = new_event(
                data,
                chat_id=outcome.chat.chat_id,
                actor=actor,
                correlation_id=correlation_id,
                causation_id=causation_id,
                occurred_at=now,
            ).with_sequence(base + offset)
            envelopes.append(envelope)
            # one flow per request: later events share the first one's correlation id
            correlation_id = correlation_id or envelope.metadata.correlation_id
        chat = outcome.chat.model_copy(update={"last_event_sequence": base + len(envelopes)})
        return replace(outcome, chat=chat), envelopes
