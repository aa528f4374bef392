"""Presence: which members have a socket subscribed to a chat right now, announced when it changes.

A member is online in a chat while at least one of their sockets is subscribed to it. Only the first
socket arriving and the last one leaving are announced (a second tab, a resume or a repeated subscribe
announce nothing), as an ephemeral PresenceChanged that is never stored; it carries the whole online
list, so one frame is enough for a client to be right. A socket that subscribes without a change still
gets that list, pushed to it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from parley.adapters.connections import ConnectionRepository
from parley.catalog import Actor, PresenceChanged, new_event
from parley.ports import ConnectionGoneError, Pusher
from parley.realtime.frames import frame_of
from parley.services.outbox import Outbox

if TYPE_CHECKING:
    from parley.catalog import Envelope
    from parley.realtime.fanout import Broadcaster


class Presence:
    def __init__(
        self,
        connections: ConnectionRepository,
        outbox: Outbox,
        pusher: Pusher,
        *,
        clock: Callable[[], datetime],
        broadcaster: Broadcaster | None = None,
    ) -> None:
        self._connections = connections
        self._outbox = outbox
        self._pusher = pusher
        self._clock = clock
        self._broadcaster = broadcaster

    def _announce(self, envelope: Envelope[PresenceChanged]) -> None:
        # never stored, so never on the events table's stream: pushed here (routing.PUSHED_BY_PRODUCER)
        # and put on the bus for extensions
        if self._broadcaster is not None:
            self._broadcaster.broadcast(envelope)
        self._outbox.publish_unsequenced([envelope])

    def arrived(self, chat_id: str, connection_id: str, actor: Actor) -> bool:
        """A socket subscribed: announce the member if it is their first; True when announced."""
        subscribers = self._connections.subscribers(chat_id, now=self._clock())
        first = not any(s.user_id == actor.id and s.connection_id != connection_id for s in subscribers)
        online = sorted({s.user_id for s in subscribers} | {actor.id})
        envelope = new_event(
            PresenceChanged(participant_id=actor.id, online=True, online_ids=tuple(online)),
            chat_id=chat_id,
            actor=actor,
        )
        if first:
            self._announce(envelope)
            return True
        try:
            self._pusher.push(connection_id, frame_of(envelope).encode())
        except ConnectionGoneError:
            self._connections.remove_connection(connection_id)
        return False

    def left(self, chat_id: str, actor: Actor) -> bool:
        """A socket let go of the chat: announce the member if it was their last; True when announced."""
        subscribers = self._connections.subscribers(chat_id, now=self._clock())
        online = sorted({s.user_id for s in subscribers})
        if actor.id in online:
            return False
        envelope = new_event(
            PresenceChanged(participant_id=actor.id, online=False, online_ids=tuple(online)),
            chat_id=chat_id,
            actor=actor,
        )
        self._announce(envelope)
        return True
