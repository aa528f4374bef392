"""Ports with more than one implementation (a real adapter and a fake used by unit tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from parley.catalog import Envelope


class EventPublisher(Protocol):
    def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Deliver every envelope to the bus, or raise PublishError naming what was not delivered."""
