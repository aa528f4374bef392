"""In-memory fakes that implement the same ports as the real adapters (and are type-checked)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from parley.catalog import Envelope
from parley.domain.read_filters import MessageKey, MessageVerdicts
from parley.errors import ConcurrentWriteError, PublishError
from parley.extensions.store import Write, decode, encode
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
    """An extension's state and delivery claims in a dict: the SDK's store backend, for tests of an
    extension's logic without AWS (``Runtime(state=lambda ext, chat: stores[...])``). Values are kept
    encoded exactly as the DynamoDB store keeps them (``parley.extensions.store.encode``), with the
    same revisions, compare-and-set conditions and all-or-nothing commits."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.rows: dict[str, tuple[str, int]] = {}
        self.claims: dict[str, tuple[str, float]] = {}
        self.committed: dict[str, list[dict[str, Any]]] = {}
        self.tally_rows: dict[str, dict[str, Any]] = {}
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def values(self) -> dict[str, Any]:
        return {key: decode(encoded) for key, (encoded, _) in self.rows.items()}

    def read(self, key: str) -> tuple[str | None, int]:
        encoded, revision = self.rows.get(key, (None, 0))
        return encoded, revision

    def get(self, key: str) -> Any | None:
        return decode(self.read(key)[0])

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None:
        with self._lock:
            self.rows[key] = (encode(value), 0)

    def update(self, key: str, change: Callable[[Any | None], Any], *, ttl_seconds: int | None = None) -> Any:
        with self._lock:
            encoded, revision = self.read(key)
            self.rows[key] = (encode(change(decode(encoded))), revision + 1)
            return decode(self.rows[key][0])

    def commit(
        self,
        event_id: str,
        writes: Sequence[Write],
        outputs: Sequence[Mapping[str, Any]],
        *,
        keep_seconds: int,
    ) -> None:
        with self._lock:
            for write in writes:
                if write.expected is not None and self.read(write.key)[1] != write.expected:
                    raise ConcurrentWriteError(f"{write.key!r} changed during the delivery")
            for write in writes:
                if write.encoded is None:
                    self.rows.pop(write.key, None)
                else:
                    revision = write.expected + 1 if write.expected is not None else 0
                    self.rows[write.key] = (write.encoded, revision)
            self.claims[event_id] = ("committed", 0.0)
            self.committed[event_id] = [dict(copy.deepcopy(o)) for o in outputs]

    def pending(self, event_id: str) -> list[dict[str, Any]] | None:
        if self.claims.get(event_id, ("", 0.0))[0] != "committed":
            return None
        return copy.deepcopy(self.committed[event_id])

    def running(self, event_id: str) -> bool:
        status, lease_until = self.claims.get(event_id, ("", 0.0))
        return status == "running" and lease_until >= self._clock()

    def claim(self, event_id: str, *, lease_seconds: float, keep_seconds: int) -> bool:
        now = self._clock()
        with self._lock:
            status, lease = self.claims.get(event_id, ("", 0.0))
            if status in {"done", "committed"} or (status == "running" and lease >= now):
                return False
            self.claims[event_id] = ("running", now + lease_seconds)
            return True

    def complete(self, event_id: str, *, keep_seconds: int) -> None:
        self.claims[event_id] = ("done", 0.0)
        self.committed.pop(event_id, None)

    def release(self, event_id: str) -> None:
        self.claims.pop(event_id, None)

    def put_new(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> bool:
        with self._lock:
            if key in self.rows:
                return False
            self.rows[key] = (encode(value), 0)
            return True

    def items_under(self, prefix: str) -> dict[str, Any]:
        return {k: decode(encoded) for k, (encoded, _) in self.rows.items() if k.startswith(prefix)}

    def tally(
        self,
        key: str,
        slot: str,
        counts: Mapping[str, int],
        tags: Mapping[str, Sequence[str]] | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> bool:
        row = self.tally_rows.setdefault(key, {"slots": set(), "counts": {}, "tags": {}})
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
            for k, r in self.tally_rows.items()
            if k.startswith(prefix)
        }


class InMemoryVerdictCache:
    """Read filters' verdicts per (chat, message sequence, version), as the DynamoDB items keep them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int, int], MessageVerdicts] = {}
        self.expires: dict[tuple[str, int, int], datetime] = {}
        self.reads = 0

    def read_verdicts(
        self, chat_id: str, versions: Sequence[MessageKey]
    ) -> dict[MessageKey, MessageVerdicts]:
        self.reads += 1
        return {k: self.rows[(chat_id, *k)] for k in versions if (chat_id, *k) in self.rows}

    def save_read_verdicts(
        self, chat_id: str, sequence: int, verdicts: MessageVerdicts, *, expires_at: datetime
    ) -> None:
        self.rows[(chat_id, sequence, verdicts.version)] = verdicts
        self.expires[(chat_id, sequence, verdicts.version)] = expires_at
