"""In-memory fakes that implement the same ports as the real adapters (and are type-checked)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
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
        self.rows: dict[str, dict[str, Any]] = {}
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

    def put_new(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> bool:
        if key in self.values:
            return False
        self.put(key, value, ttl_seconds=ttl_seconds)
        return True

    def items_under(self, prefix: str) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self.values.items() if k.startswith(prefix)}

    def tally(
        self,
        key: str,
        slot: str,
        counts: Mapping[str, int],
        tags: Mapping[str, Sequence[str]] | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> bool:
        row = self.rows.setdefault(key, {"slots": set(), "counts": {}, "tags": {}})
        if slot in row["slots"]:
            return False
        row["slots"].add(slot)
        for name, value in counts.items():
            if value:
                row["counts"][name] = row["counts"].get(name, 0) + value
        for name, found in (tags or {}).items():
            if found:
                row["tags"].setdefault(name, set()).update(found)
        return True

    def tallies(self, prefix: str) -> dict[str, dict[str, dict[str, Any]]]:
        return {
            k: {"counts": dict(r["counts"]), "tags": {n: set(v) for n, v in r["tags"].items()}}
            for k, r in self.rows.items()
            if k.startswith(prefix)
        }
