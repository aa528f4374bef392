"""Ephemeral messages: checked, then pushed to one member's sockets, and nowhere else.

Nothing of one is written (no message, no event row, no outbox, no bus event, no inbox); the only
write is an extension's per-minute counter. A member with no socket on the chat is looked for again
for a moment (``GRACE_SECONDS``: a joiner subscribes right after joining, and a greeting may come
first); still none, and it is dropped, never queued.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.adapters.connections import ConnectionRepository
from parley.catalog import (
    SYSTEM,
    Actor,
    Envelope,
    EphemeralMessage,
    ExtensionEphemeralRequested,
    derive,
    new_event,
)
from parley.clock import utc_now
from parley.domain.ephemeral import ephemeral_message, expired
from parley.domain.model import Chat
from parley.errors import RateLimitedError
from parley.extensions.manifest import ExtensionDocument
from parley.observability import logger, metrics
from parley.ports import Pusher
from parley.realtime.direct import push_to_member
from parley.realtime.frames import frame_of

MAX_AGE_SECONDS = 60.0
"""An extension's request older than this (retried, or stuck in a backlog) is dropped, not shown late."""
GRACE_SECONDS = 2.0
"""How long a message for a member with no socket on the chat waits for one, looking every 0.25 s."""
LOOK_EVERY_SECONDS = 0.25


@dataclass(frozen=True)
class Sent:
    message_id: str
    delivered: int
    """Sockets that got it: 0 means it was dropped (the member had no socket on the chat)."""


class EphemeralService:
    def __init__(
        self,
        connections: ConnectionRepository,
        pusher: Callable[[], Pusher],
        *,
        clock: Callable[[], datetime] = utc_now,
        max_age_seconds: float = MAX_AGE_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._connections = connections
        self._pusher = pusher  # a factory: a chat with no socket for the member builds no client
        self._clock = clock
        self._max_age = max_age_seconds
        self._grace = grace_seconds
        self._sleep = sleep

    def send(self, chat: Chat, participant_id: str, text: str, *, correlation_id: str | None = None) -> Sent:
        """The core's own message to one member (sender `parley`)."""
        data = ephemeral_message(chat, participant_id=participant_id, text=text, message_id=str(uuid.uuid4()))
        envelope = new_event(
            data,
            chat_id=chat.chat_id,
            actor=SYSTEM,
            correlation_id=correlation_id,
        )
        return self._push(envelope)

    def from_extension(
        self, chat: Chat, request: Envelope[ExtensionEphemeralRequested], document: ExtensionDocument
    ) -> Sent | None:
        """An extension's request, already allowed by the gateway's policy (capability, install):
        None if it came too late; RateLimitedError past the extension's rate in the chat (the same
        ``extension_messages_per_minute`` as its bot messages, counted apart)."""
        asked = request.data
        if expired(request.metadata.occurred_at, self._clock(), max_age_seconds=self._max_age):
            logger.info("dropped a late ephemeral message", extra={"extension_id": document.id})
            metrics.add_metric(name="EphemeralDropped", unit=MetricUnit.Count, value=1)
            return None
        data = ephemeral_message(
            chat,
            participant_id=asked.participant_id,
            text=asked.text,
            # the same request always makes the same id: a client drops a repeated push
            message_id=asked.request_id,
            extension=(document.id, document.name),
        )
        limit = chat.settings.extension_messages_per_minute
        if not self._connections.take_ephemeral_slot(
            chat.chat_id, document.id, now=self._clock(), limit=limit
        ):
            raise RateLimitedError(
                f"extension {document.id} may send at most {limit} ephemeral messages a minute here",
                retry_after=60 - int(self._clock().timestamp()) % 60,
            )
        actor = Actor(id=document.id, kind="extension", name=document.name)
        return self._push(_with_id(derive(request, data, actor=actor), data.message_id))

    def _push(self, envelope: Envelope[EphemeralMessage]) -> Sent:
        data, frame = envelope.data, frame_of(envelope).encode()
        chat_id = envelope.metadata.chat_id
        waited = 0.0
        while True:
            pushed = push_to_member(
                self._connections, self._pusher, chat_id, data.participant_id, frame, now=self._clock()
            )
            if pushed.sockets or waited >= self._grace:
                break
            self._sleep(LOOK_EVERY_SECONDS)  # no socket yet: the member may be subscribing right now
            waited += LOOK_EVERY_SECONDS
        if not pushed.delivered:
            logger.info(
                "an ephemeral message found no socket: dropped", extra={"chat_id": envelope.metadata.chat_id}
            )
            metrics.add_metric(name="EphemeralDropped", unit=MetricUnit.Count, value=1)
        return Sent(data.message_id, pushed.delivered)


def _with_id(envelope: Envelope[Any], event_id: str) -> Envelope[Any]:
    """The frame's event id is the message's: a client that deduplicates by event id drops a repeat."""
    return envelope.model_copy(
        update={"metadata": envelope.metadata.model_copy(update={"event_id": event_id})}
    )
