"""In-memory fakes that implement the same ports as the real adapters (and are type-checked)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
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


class InMemoryStore:
    """An extension's state and delivery claims in a dict: the SDK's Store port, for tests of an
    extension's logic without AWS (``Runtime(state=lambda ext, chat: stores[...])``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.values: dict[str, Any] = {}
        self.claims: dict[str, tuple[str, float]] = {}
        self._clock = clock

    def get(self, key: str) -> Any | None:
        return copy.deepcopy(self.values.get(key))

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None:
        self.values[key] = copy.deepcopy(value)

    def update(self, key: str, change: Callable[[Any | None], Any], *, ttl_seconds: int | None = None) -> Any:
        value = change(self.get(key))
        self.put(key, value)
        return value

    def claim(self, event_id: str, *, lease_seconds: float, keep_seconds: int) -> bool:
        now = self._clock()
        status, lease = self.claims.get(event_id, ("", 0.0))
        if status == "done" or (status == "running" and lease >= now):
            return False
        self.claims[event_id] = ("running", now + lease_seconds)
        return True

    def complete(self, event_id: str, *, keep_seconds: int) -> None:
        self.claims[event_id] = ("done", 0.0)

    def release(self, event_id: str) -> None:
        self.claims.pop(event_id, None)
