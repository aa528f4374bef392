"""Frames for one member only: pushed to that member's own sockets on a chat, never anyone else's.

The broadcaster fans an event out to a chat's audience; a read marker or an ephemeral message
concerns one member alone, so its producer pushes it here, to that member's subscriptions only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from parley.adapters.connections import ConnectionRepository
from parley.errors import PushFailedError
from parley.observability import logger
from parley.ports import ConnectionGoneError, Pusher


@dataclass(frozen=True)
class Pushed:
    delivered: int
    gone: int
    failed: int

    @property
    def sockets(self) -> int:
        """The member's subscribed sockets found, whatever each push did."""
        return self.delivered + self.gone + self.failed


def push_to_member(
    connections: ConnectionRepository,
    pusher: Callable[[], Pusher],
    chat_id: str,
    user_id: str,
    frame: bytes,
    *,
    now: datetime,
) -> Pushed:
    """Push ``frame`` to every socket ``user_id`` subscribed to the chat with; a socket found gone
    loses its subscription (the pusher is a factory: built only if there is a socket to push to)."""
    delivered = gone = failed = 0
    for subscriber in connections.subscribers(chat_id, now=now):
        if subscriber.user_id != user_id:
            continue
        try:
            pusher().push(subscriber.connection_id, frame)
            delivered += 1
        except ConnectionGoneError:
            connections.drop_subscription(chat_id, subscriber.connection_id)
            gone += 1
        except PushFailedError:
            logger.warning("push failed", extra={"connection_id": subscriber.connection_id})
            failed += 1
    return Pushed(delivered, gone, failed)
