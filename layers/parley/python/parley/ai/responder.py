"""The AI responder: answer one AIResponseRequested by streaming a model's reply into the chat.

Life cycle of a reply, and where each piece goes:

- AIResponseStarted and every AIResponseChunk are pushed straight to the chat's sockets, in order,
  without a sequence: they are a live preview, not history. Started is also put on the bus
  (unsequenced, best effort) for analytics and extensions; the broadcaster does not subscribe to it,
  so clients get it once, ahead of the chunks.
- In a chat with a moderation hook the reply is held back: no chunk is pushed, the hooks rule on
  the whole text, and members see only what they allowed (the stored message) or AIResponseFailed.
  A draft streamed before a ruling would show every member text the hook may reject. A chat with a
  read filter holds it back too: each member reads the stored reply as the filter shapes it.
- The reply (MessageStored) and AIResponseCompleted commit in one transaction through the event
  log: a reconnecting client replays them, and a reply can never exist without its completion
  record. The request id is the reply's client_message_id, so a duplicate request stores nothing.
- Model errors, throttling, time-outs and a chat completed mid-reply end in AIResponseFailed
  (event log, pushed by the broadcaster) and, if the AI held the turn, a TurnChanged ``ai_failed``.

A lease on the request id keeps a redelivered request from streaming a second copy while the first
is still running; once the reply or its failure is committed, the lease says so and duplicates are
dropped. If neither could be committed, the lease is released and the queue's retry answers again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.adapters.dynamodb import ChatRepository
from parley.ai.providers import (
    ModelProvider,
    ModelRequest,
    TextDelta,
    Usage,
    Utterance,
    estimate_tokens,
)
from parley.catalog import (
    Actor,
    AIResponseChunk,
    AIResponseRequested,
    AIResponseStarted,
    Envelope,
    new_event,
)
from parley.clock import utc_now
from parley.domain import audience
from parley.domain.commands import FailureReason
from parley.domain.model import Chat, Participant
from parley.errors import (
    ChatCompletedError,
    InvalidRequestError,
    MessageRejectedError,
    NotYourTurnError,
    ProviderError,
    RateLimitedError,
    StoreError,
)
from parley.observability import logger
from parley.realtime.fanout import Broadcaster, Stream
from parley.services.chats import ChatService
from parley.services.outbox import Outbox

CONTEXT_MESSAGES = 50
LEASE_MARGIN_SECONDS = 30
DONE_KEEP_SECONDS: float | None = None
"""A finished request stays finished: a redrive from a dead-letter queue (14 days) or the archive
must not stream and store a second reply."""
FINISH_ATTEMPTS = 5
FINISH_BACKOFF_SECONDS = 0.05


class RequestInProgressError(Exception):
    """Another invocation is answering this request right now; the queue retries this one later."""


class _Cancelled(Exception):
    """The chat was completed while the reply streamed."""


@dataclass
class _Reply:
    """A reply as it streams in; times are monotonic seconds."""

    began: float
    ended: float = 0.0
    first_token: float | None = None
    parts: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: Usage(0, 0))

    def timings(self) -> dict[str, float]:
        return {
            "time_to_first_token_ms": round(((self.first_token or self.ended) - self.began) * 1000, 1),
            "duration_ms": round((self.ended - self.began) * 1000, 1),
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
        }


class AIResponder:
    def __init__(
        self,
        chats: ChatService,
        repository: ChatRepository,
        outbox: Outbox,
        broadcaster: Broadcaster,
        provider_for: Callable[[Participant], ModelProvider],
        *,
        default_model: str,
        timeout_seconds: float = 60.0,
        token_budget: int = 4000,
        max_output_tokens: int = 512,
        cancel_check_seconds: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._chats = chats
        self._repo = repository
        self._outbox = outbox
        self._broadcaster = broadcaster
        self._provider_for = provider_for
        self._default_model = default_model
        self._timeout = timeout_seconds
        self._budget = token_budget
        self._max_output = max_output_tokens
        self._cancel_check = cancel_check_seconds
        self._monotonic = monotonic
        self._clock = clock

    def respond(self, envelope: Envelope[AIResponseRequested]) -> str:
        """Answer the request; returns what happened (``replied``, ``failed:<reason>``, or why it
        was skipped). Raises RequestInProgressError only to have the queue retry later."""
        request = envelope.data
        chat_id = envelope.metadata.chat_id
        chat = self._chats.load(chat_id)
        participant = chat.member(request.participant_id) if chat else None
        if chat is None or participant is None or participant.kind != "ai":
            logger.warning("AI request for an unknown chat or participant", extra={"chat_id": chat_id})
            return "skipped:unknown"
        skip = self._why_not(chat, participant)
        if skip:
            return skip
        lease = f"ai-request#{chat_id}#{request.request_id}"
        held = self._repo.claim(lease, now=self._clock(), ttl_seconds=self._timeout + LEASE_MARGIN_SECONDS)
        if held == "done":
            return "skipped:duplicate"
        if held is not None:
            raise RequestInProgressError(f"request {request.request_id} is being answered")
        try:
            outcome = self._answer(envelope, chat, participant)
        except BaseException:
            # neither the reply nor its failure was committed: free the lease so the retry answers
            # (if this release fails too, the lease expires and the retry takes it over)
            self._repo.release_claim(lease)
            raise
        # only now is the reply (or AIResponseFailed) committed: duplicates may be dropped
        self._finish(lease)
        return outcome

    def _finish(self, lease: str) -> None:
        """Mark the request answered, insisting: the answer is committed, and a lease left running
        would expire into a second attempt that may end the request again (a failure after a reply,
        seen under make chaos when this write was throttled past the SDK's retries)."""
        for attempt in range(FINISH_ATTEMPTS):
            try:
                self._repo.finish_claim(
                    lease, now=self._clock(), keep_seconds=DONE_KEEP_SECONDS, outcome="done"
                )
                return
            except StoreError:
                if attempt == FINISH_ATTEMPTS - 1:
                    raise
                time.sleep(FINISH_BACKOFF_SECONDS * 2**attempt)

    def _why_not(self, chat: Chat, participant: Participant) -> str | None:
        if chat.status == "completed":
            return "skipped:chat_completed"
        if chat.turn_mode != "free" and (chat.turn.holder_id != participant.id or chat.turn.consumed):
            # the turn moved on (time-out, grant, mode change) before the request was served
            return "skipped:not_its_turn"
        return None

    def context(
        self, chat: Chat, participant: Participant, up_to: int, reply: tuple[str, ...] | None
    ) -> ModelRequest:
        """Persona, the chat's rules, and the latest messages that fit the token budget and that
        everyone the reply goes to (``reply``: its ``to``; None: the whole chat) could see."""
        assert participant.ai is not None
        system = (
            f"You are {participant.name}, an AI participant in the group chat \u201c{chat.title}\u201d "
            f"(turn mode: {chat.turn_mode}). Reply in at most {chat.settings.max_message_length} "
            f"characters, as yourself, without prefixing your name.\n{participant.ai.persona}"
        ).strip()
        # what extensions with `ai:context` contributed (each bounded when it was set)
        notes = [
            f"[{install.extension_id}] {install.ai_context}"
            for _, install in sorted(chat.extensions.items())
            if install.enabled and install.ai_context
        ]
        if notes:
            system += "\n\nContext from this chat's extensions:\n" + "\n".join(notes)
        budget = self._budget - estimate_tokens(system)
        recent = self._chats.recent_messages(chat.chat_id, up_to=up_to, limit=CONTEXT_MESSAGES)
        kept: list[Utterance] = []
        # the model reads only what the reply's audience may see: a whisper between others never
        # reaches it, nor one the AI was part of when the reply is public or for other people
        seen = [m for m in recent if audience.context_visible(m, participant.id, reply)]
        for message in reversed(seen):
            cost = estimate_tokens(message.text)
            if kept and cost > budget:
                break
            budget -= cost
            mine = message.sender_id == participant.id
            kept.append(Utterance("assistant" if mine else "user", message.sender_name, message.text))
        model = participant.ai.model or self._default_model
        return ModelRequest(
            model=model, system=system, messages=tuple(reversed(kept)), max_output_tokens=self._max_output
        )

    def _answer(self, cause: Envelope[AIResponseRequested], chat: Chat, participant: Participant) -> str:
        request = cause.data
        actor = Actor(id=participant.id, kind="ai", name=participant.name)
        model_request = self.context(
            chat,
            participant,
            max(request.after_message_sequence, chat.last_message_sequence),
            audience.reply_to(audience.audience_of(cause), participant.id),
        )
        try:
            provider = self._provider_for(participant)
        except ProviderError as exc:
            return self._fail(cause, actor, exc.reason, exc.detail)

        def event(data: Any) -> Envelope[Any]:
            return new_event(
                data,
                chat_id=chat.chat_id,
                actor=actor,
                correlation_id=cause.metadata.correlation_id,
                causation_id=cause.metadata.event_id,
            )

        # a moderated chat sees the reply only once its hooks ruled on the whole text
        # a reply to a whisper streams only to the whisper's people, as it will be stored
        to = audience.audience_of(cause)
        stream: Stream | None = (
            None if self._chats.moderated(chat) else self._broadcaster.stream(chat.chat_id, audience=to)
        )
        started = event(
            AIResponseStarted(
                request_id=request.request_id, participant_id=participant.id, model=model_request.model
            )
        )
        (stream or self._broadcaster.stream(chat.chat_id, audience=to)).push(started)
        self._outbox.publish_unsequenced([started])
        try:
            reply = self._stream(provider.stream(model_request), chat.chat_id, stream, event, request)
        except ProviderError as exc:
            return self._fail(cause, actor, exc.reason, exc.detail)
        except _Cancelled:
            return self._fail(cause, actor, "cancelled", "the chat was completed during the reply")
        except Exception as exc:  # a provider bug must still end the reply and free the turn
            logger.exception("AI provider failed unexpectedly")
            return self._fail(cause, actor, "model_error", f"unexpected {type(exc).__name__}")
        return self._store(cause, chat, actor, reply)

    def _stream(
        self,
        items: Iterable[object],
        chat_id: str,
        stream: Stream | None,
        event: Callable[[Any], Envelope[Any]],
        request: AIResponseRequested,
    ) -> _Reply:
        """Push the model's text to the chat's sockets as it comes (``stream`` None: hold it back),
        watching the clock and the chat."""
        reply = _Reply(began=self._monotonic())
        last_check = reply.began
        for item in items:
            now = self._monotonic()
            if now - reply.began > self._timeout:
                raise ProviderError("timeout", f"no complete reply within {self._timeout:g} s")
            if isinstance(item, Usage):
                reply.usage = item
                continue
            if not isinstance(item, TextDelta) or not item.text:
                continue
            if reply.first_token is None:
                reply.first_token = now
            chunk = AIResponseChunk(
                request_id=request.request_id,
                participant_id=request.participant_id,
                index=len(reply.parts),
                text=item.text,
            )
            if stream is not None:
                stream.push(event(chunk))
            reply.parts.append(item.text)
            if now - last_check >= self._cancel_check:
                last_check = now
                self._check_open(chat_id)
        reply.ended = self._monotonic()
        return reply

    def _check_open(self, chat_id: str) -> None:
        current = self._chats.load(chat_id)
        if current is None or current.status == "completed":
            raise _Cancelled()

    def _store(self, cause: Envelope[AIResponseRequested], chat: Chat, actor: Actor, reply: _Reply) -> str:
        """Commit the finished reply with its AIResponseCompleted, or fail it if nothing usable came."""
        request = cause.data
        text = "".join(reply.parts).strip()[: chat.settings.max_message_length]
        if not text:
            return self._fail(cause, actor, "model_error", "the model returned an empty reply")
        timings = reply.timings()
        try:
            self._chats.post_ai_reply(
                chat.chat_id,
                participant=actor,
                request_id=request.request_id,
                text=text,
                timings=timings,
                cause=cause,
            )
        except (NotYourTurnError, ChatCompletedError) as exc:
            return self._fail(cause, actor, "cancelled", exc.message)
        except RateLimitedError as exc:
            return self._fail(cause, actor, "throttled", exc.message)
        except MessageRejectedError as exc:  # the chat's moderation hooks refused the reply
            return self._fail(cause, actor, "cancelled", exc.message)
        except InvalidRequestError as exc:  # everyone a whispered reply was for has left the chat
            return self._fail(cause, actor, "cancelled", exc.message)
        logger.info(
            "AI replied", extra={"chat_id": chat.chat_id, "request_id": request.request_id, **timings}
        )
        return "replied"

    def _fail(
        self, cause: Envelope[AIResponseRequested], actor: Actor, reason: FailureReason, detail: str
    ) -> str:
        logger.warning("AI reply failed", extra={"reason": reason, "detail": detail})
        self._chats.fail_ai_response(
            cause.metadata.chat_id,
            participant=actor,
            request_id=cause.data.request_id,
            reason=reason,
            detail=detail,
            cause=cause,
        )
        return f"failed:{reason}"
