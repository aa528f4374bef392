"""The unit of work: load a chat, decide (pure), commit state and events in one transaction.

Every change to a chat goes through ``execute``, which decides again on fresh state when another
writer won the optimistic-concurrency race; ``post_once`` makes a post idempotent per client id.
Publishing is not its job: the events table's stream is the outbox (``parley.services.outbox``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from parley.adapters.dynamodb import ChatRepository, Claim, DuplicateClientMessageError, LoadedChat
from parley.catalog import (
    SYSTEM,
    Actor,
    Audience,
    Envelope,
    EventData,
    InteractionSubmitted,
    MessageView,
    new_event,
)
from parley.domain import audience
from parley.domain import extensions as installs
from parley.domain.model import Chat, Outcome
from parley.errors import ChatNotFoundError, ConcurrentWriteError, ContentionError, ParleyError

Decide = Callable[[Chat, datetime], Outcome]


@dataclass(frozen=True)
class Identity:
    """The caller, as the API Gateway authorizer vouched for it (JWT `sub` and a display name)."""

    user_id: str
    name: str

    @property
    def actor(self) -> Actor:
        return Actor(id=self.user_id, kind="user", name=self.name)


@dataclass(frozen=True)
class PostResult:
    message: MessageView
    replayed: bool
    stored: Envelope[Any] | None = None
    """The post's MessageStored as committed (not known for a replay)."""


def not_a_member(chat_id: str) -> ChatNotFoundError:
    """Outsiders cannot tell a chat they are not in from one that does not exist."""
    return ChatNotFoundError("no such chat, or you are not a member of it", chat_id=chat_id)


class UnitOfWork:
    def __init__(
        self,
        repository: ChatRepository,
        *,
        clock: Callable[[], datetime],
        max_attempts: int,
        reads_private: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self._repo = repository
        self._clock = clock
        self._max_attempts = max_attempts
        self._reads_private = reads_private

    def create(self, outcome: Outcome, actor: Actor, correlation_id: str | None, now: datetime) -> Outcome:
        """Commit a chat that does not exist yet, with its first events; returns it as committed."""
        outcome, envelopes = sequence(
            outcome, actor, correlation_id, now, previous=None, reads_private=self._reads_private
        )
        self._repo.commit(None, outcome, envelopes, now=now)
        return outcome

    def execute(
        self,
        chat_id: str,
        who: Identity | None,
        decide: Decide,
        correlation_id: str | None,
        *,
        members_only: bool = True,
        client_message_id: str | None = None,
        actor: Actor | None = None,
        causation_id: str | None = None,
        preloaded: LoadedChat | None = None,
        origin_connection_id: str | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Load, decide, commit; on a lost optimistic-concurrency race, decide again on fresh state.

        ``preloaded`` is the caller's fresh read, used for the first attempt instead of a second one;
        ``origin_connection_id`` the socket the post came from (its MessageStored is not pushed there);
        ``claim`` an idempotency key taken in the same transaction (``DuplicateClientMessageError``),
        also when the decision changed nothing: a later repeat of the key must not apply it then."""
        for attempt in range(1, self._max_attempts + 1):
            loaded = preloaded if attempt == 1 and preloaded is not None else self._repo.load(chat_id)
            if loaded is None or (members_only and who is not None and not loaded.chat.human(who.user_id)):
                raise not_a_member(chat_id)
            now = self._clock()
            outcome = decide(loaded.chat, now)
            if outcome.chat == loaded.chat and not outcome.events and claim is None:
                return outcome
            outcome, envelopes = sequence(
                outcome,
                actor or (who.actor if who else SYSTEM),
                correlation_id,
                now,
                causation_id=causation_id,
                previous=loaded.chat,
                reads_private=self._reads_private,
            )
            try:
                self._repo.commit(
                    loaded,
                    outcome,
                    envelopes,
                    client_message_id=client_message_id,
                    origin_connection_id=origin_connection_id,
                    now=now,
                    claim=claim,
                )
            except ConcurrentWriteError:
                # full jitter keeps colliding writers from colliding again in lock step
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            return outcome
        raise ContentionError(f"chat {chat_id} is too busy right now; retry shortly", chat_id=chat_id)

    def record(
        self,
        chat_id: str,
        who: Identity | None,
        events: Sequence[EventData],
        correlation_id: str | None,
        audience: Audience | None = None,
    ) -> None:
        """Commit decisions that change no state (a refusal) into the chat's event log.

        ``audience``: the refused message's (a whisper's rulings quote or rewrite its text, so they
        are its people's, as they would have been had it been stored); None for a public one."""
        recorded = tuple(events)
        self.execute(
            chat_id,
            who,
            lambda chat, _: Outcome(chat=chat, events=recorded, audience=audience),
            correlation_id,
        )

    def post_once(
        self,
        chat_id: str,
        sender_id: str,
        client_message_id: str | None,
        post: Callable[[], Outcome],
        *,
        before_replay: Callable[[], object] | None = None,
    ) -> PostResult:
        """A post runs once per (chat, sender, client_message_id): a repeat, or the loser of a race
        between two identical requests, gets the first message back and stores nothing.

        No read first: the id's claim is a condition of the post's own transaction, so the first
        attempt costs nothing extra. Only a refused attempt (the claim taken, or a repeat the chat
        would now refuse, e.g. the turn moved on) reads the earlier message."""
        try:
            outcome = post()
        except (DuplicateClientMessageError, ParleyError):
            earlier = self._earlier(chat_id, sender_id, client_message_id, before_replay)
            if earlier is None:
                raise
            return PostResult(earlier, replayed=True)
        assert outcome.message is not None
        stored = next((e for e in outcome.sequenced if e.event_type == "MessageStored"), None)
        return PostResult(outcome.message, replayed=False, stored=stored)

    def _earlier(
        self,
        chat_id: str,
        sender_id: str,
        client_message_id: str | None,
        before_replay: Callable[[], object] | None,
    ) -> MessageView | None:
        if client_message_id is None:
            return None
        earlier = self._repo.client_message(chat_id, sender_id, client_message_id)
        if earlier is not None and before_replay is not None:
            before_replay()
        return earlier


def sequence(
    outcome: Outcome,
    actor: Actor,
    correlation_id: str | None,
    now: datetime,
    *,
    causation_id: str | None = None,
    previous: Chat | None,
    reads_private: Callable[[str], bool] = lambda _: False,
) -> tuple[Outcome, list[Envelope[EventData]]]:
    """Wrap the decided events in envelopes numbered after the chat's last event-log sequence,
    stamped with the chat's roster version (bumped here when participants or roles changed) and the
    outcome's audience; a private event is routed only to the extensions that may see it."""
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
            base + offset,
            roster_version=roster,
            extensions=_routed(outcome, data, reads_private),
            audience=_scope(outcome, data),
        )
        envelopes.append(envelope)
        # one flow per request: later events share the first one's correlation id
        correlation_id = correlation_id or envelope.metadata.correlation_id
    chat = outcome.chat.model_copy(
        update={"last_event_sequence": base + len(envelopes), "roster_version": roster}
    )
    return replace(outcome, chat=chat, sequenced=tuple(envelopes)), envelopes


def _scope(outcome: Outcome, data: EventData) -> Audience | None:
    """One event's audience in its outcome: the outcome's, narrowed for a moderators' notice.

    A whisper's moderators-only event (a shadow ruling rewriting its text) is for the moderators
    among the whisper's people: its plain members must not read a moderators' notice, and the other
    moderators must not read the whisper through it. None of them: nobody reads it (a marker)."""
    scope = outcome.audience
    if isinstance(scope, tuple) and audience.type_default(data.event_type) == audience.MODERATORS:
        return tuple(p for p in scope if outcome.chat.is_moderator(p))
    return scope


def _routed(outcome: Outcome, data: EventData, reads_private: Callable[[str], bool]) -> tuple[str, ...]:
    """The extensions an event goes to: those that may see it under its own audience (a public
    event's is its type's default, so a moderators' notice reaches live exactly the extensions that
    backfill would hand it to), plus a life-cycle event's subject, whose install hooks must run."""
    routed = installs.routed_to(outcome.chat, data)
    stamped = _scope(outcome, data)
    scope = audience.type_default(data.event_type) if stamped is None else stamped
    # a life-cycle event's subject, or the extension a member acted toward, gets it whatever its scope
    subject = data.extension_id if isinstance(data, (*installs.LIFECYCLE, InteractionSubmitted)) else None
    return tuple(e for e in routed if e == subject or audience.extension_may_see(e, scope, reads_private))
