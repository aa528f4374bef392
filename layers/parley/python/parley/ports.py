"""Ports with more than one implementation (a real adapter and a fake used by unit tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from parley.catalog import Envelope


class EventPublisher(Protocol):
    def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Deliver every envelope to the bus, or raise PublishError naming what was not delivered."""


class ConnectionGoneError(Exception):
    """The socket is closed for good (API Gateway answered 410 Gone): forget the connection."""


class Pusher(Protocol):
    def push(self, connection_id: str, frame: bytes) -> None:
        """Send one frame to one socket; raise ConnectionGoneError when it no longer exists and
        PushFailedError when the push failed otherwise."""
