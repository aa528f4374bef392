"""In-memory fakes that implement the same ports as the real adapters (and are type-checked)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.catalog import Envelope
from parley.errors import PublishError
from parley.ports import ConnectionGoneError


class InMemoryPublisher:
    """Records what was published; ``fail_next`` makes the next publish raise, like a broken bus."""

    def __init__(self) -> None:
        self.published: list[Envelope[Any]] = []
        self.fail_next: BaseException | None = None

    def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.published.extend(envelopes)

    def types(self) -> list[str]:
        return [e.event_type for e in self.published]


def failing(message: str = "bus unavailable") -> PublishError:
    return PublishError(message)


class InMemoryPusher:
    """Records frames per connection; connections in ``gone`` answer like a 410."""

    def __init__(self) -> None:
        self.frames: dict[str, list[bytes]] = {}
        self.gone: set[str] = set()

    def push(self, connection_id: str, frame: bytes) -> None:
        if connection_id in self.gone:
            raise ConnectionGoneError(connection_id)
        self.frames.setdefault(connection_id, []).append(frame)
