"""An extension's own state: what a handler sees (``ctx.store``) and what a backend must offer.

A handler's writes are staged: ``ctx.store`` reads its own writes at once, but nothing reaches the
table until the handler returns; then one transaction commits them together with the delivery's
outputs (its messages and events, recorded on the delivery's row), and only then are the outputs
published. If the publish fails the retry republishes the recorded outputs without running the
handler again, so "record, then post if complete" can never keep the record and lose the post. A
handler that raises commits nothing. ``update`` is a compare-and-set: the commit is conditioned on
the revision it read, and a concurrent delivery that changed the key first makes the SDK run the
handler again on fresh state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

MAX_VALUE_BYTES = 350_000
"""A value's JSON, under DynamoDB's 400 KB item limit with room for the key and attributes."""
MAX_WRITES = 99
"""Keys one delivery may write: a DynamoDB transaction holds 100 items, one is the delivery's row."""


class StoreValueError(ValueError):
    """A value the store cannot keep: not JSON (a set, bytes, NaN, an object) or over the size limit."""


class StoreLimitError(ValueError):
    """One delivery wrote more keys than one transaction can commit (``MAX_WRITES``)."""


def encode(value: Any) -> str:
    """Values are JSON: tuples come back as lists, dict keys as strings; the in-memory store and the
    DynamoDB one both go through this, so a test sees what production would."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StoreValueError(f"store values must be JSON: {exc}") from exc
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise StoreValueError(f"a store value is at most {MAX_VALUE_BYTES} bytes of JSON")
    return text


def decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class Write:
    """One staged change: ``encoded`` None deletes; ``expected`` is the revision an ``update`` read
    (0: the key did not exist), None for a blind ``put`` or ``delete``."""

    key: str
    encoded: str | None
    expected: int | None = None
    ttl_seconds: int | None = None


class BlindWrites(Protocol):
    """Writes that need no staging: each is idempotent by its key or slot, so a retry that writes
    again changes nothing (see ``Manifest.idempotent``); they reach the table at once."""

    def put_new(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> bool: ...

    def items_under(self, prefix: str) -> dict[str, Any]: ...

    def tally(
        self,
        key: str,
        slot: str,
        counts: Mapping[str, int],
        tags: Mapping[str, Sequence[str]] | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> bool: ...

    def tallies(self, prefix: str) -> dict[str, dict[str, dict[str, Any]]]: ...


class Backend(BlindWrites, Protocol):
    """What a state backend offers the SDK, scoped to (extension, chat)."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None: ...

    def update(
        self, key: str, change: Callable[[Any | None], Any], *, ttl_seconds: int | None = None
    ) -> Any: ...

    def read(self, key: str) -> tuple[str | None, int]:
        """The encoded value (None if absent) and its revision (0 if absent)."""
        ...

    def commit(
        self,
        event_id: str,
        writes: Sequence[Write],
        outputs: Sequence[Mapping[str, Any]],
        *,
        keep_seconds: int,
    ) -> None:
        """Apply the writes and record the outputs on the delivery's row, all or nothing; raises
        ``ConcurrentWriteError`` if an ``update``'s key changed since it was read."""
        ...

    def pending(self, event_id: str) -> list[dict[str, Any]] | None:
        """The outputs of a committed delivery not yet confirmed published, else None."""
        ...

    def claim(self, event_id: str, *, lease_seconds: float, keep_seconds: int) -> bool: ...

    def running(self, event_id: str) -> bool:
        """A delivery holds the event's claim and its lease has not run out (it may still fail)."""
        ...

    def complete(self, event_id: str, *, keep_seconds: int) -> None: ...

    def release(self, event_id: str) -> None: ...


class Store(BlindWrites, Protocol):
    """``ctx.store``: JSON values by key, scoped to this extension and this chat."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None: ...

    def update(self, key: str, change: Callable[[Any | None], T], *, ttl_seconds: int | None = None) -> T: ...

    def delete(self, key: str) -> None: ...


class StagedStore:
    """``ctx.store``: reads see the handler's own writes; writes wait for the delivery's commit."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._writes: dict[str, Write] = {}

    @property
    def writes(self) -> list[Write]:
        return list(self._writes.values())

    def _current(self, key: str) -> tuple[str | None, int | None]:
        staged = self._writes.get(key)
        if staged is not None:
            return staged.encoded, staged.expected
        return self._backend.read(key)

    def get(self, key: str) -> Any | None:
        """The value, or None; a copy (changing it changes nothing until ``put``/``update``)."""
        return decode(self._current(key)[0])

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None:
        """Overwrite, whatever a concurrent delivery wrote meanwhile (``update`` to read-modify-write)."""
        self._stage(
            Write(
                key, encode(value), self._writes[key].expected if key in self._writes else None, ttl_seconds
            )
        )

    def update(self, key: str, change: Callable[[Any | None], T], *, ttl_seconds: int | None = None) -> T:
        """Compare-and-set: ``change(current)`` becomes the value if nobody wrote the key since it was
        read, else the delivery runs again on fresh state. ``change`` may run more than once."""
        encoded, revision = self._current(key)
        value = change(decode(encoded))
        self._stage(Write(key, encode(value), revision, ttl_seconds))
        stored: T = decode(self._writes[key].encoded)  # as a later read returns it: JSON
        return stored

    def delete(self, key: str) -> None:
        self._stage(Write(key, None, self._writes[key].expected if key in self._writes else None))

    def put_new(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> bool:
        """Write once, at once (not staged): True if the key was new; a replay finds it and skips."""
        return self._backend.put_new(key, value, ttl_seconds=ttl_seconds)

    def items_under(self, prefix: str) -> dict[str, Any]:
        return self._backend.items_under(prefix)

    def tally(
        self,
        key: str,
        slot: str,
        counts: Mapping[str, int],
        tags: Mapping[str, Sequence[str]] | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> bool:
        """Add to a counter row once per ``slot``, at once (not staged): a replay adds nothing."""
        return self._backend.tally(key, slot, counts, tags, ttl_seconds=ttl_seconds)

    def tallies(self, prefix: str) -> dict[str, dict[str, dict[str, Any]]]:
        return self._backend.tallies(prefix)

    def _stage(self, write: Write) -> None:
        if write.key not in self._writes and len(self._writes) >= MAX_WRITES:
            raise StoreLimitError(f"one delivery writes at most {MAX_WRITES} keys")
        self._writes[write.key] = write
