"""The extensions table: the registry, the SDK's delivery records and each extension's own rows.

Key layout (one table, so one IAM statement limits an extension to its own partition keys):
- ``registry`` / ``<extension id>``: the extension's document (manifest, config schema, target);
- ``<extension id>#<chat id>`` / ``seen#<event id>``: a delivery claim, so a handler sees each
  event once (in progress with a lease, then committed with the outputs to publish, then done; a
  failure releases it for the retry);
- ``<extension id>#<chat id>`` / ``kv#<key>``: the extension's own state, with a revision for
  optimistic updates; or, for blind writes, a value put once (``put_new``) or a tally row
  (``tally``: counters ``c_<name>``, string sets ``t_<name>``, and the string set ``slots`` of
  the identities already counted, so a replay adds nothing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from parley.adapters.tables import ExtensionRecord
from parley.errors import ConcurrentWriteError
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.store import Write, decode, encode

REGISTRY = "registry"
T = TypeVar("T")


def _at(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def _conditional_failed(exc: PutError | UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class Registry:
    """Registered extensions, cached per process for ``ttl_seconds`` (a registration is a deploy)."""

    def __init__(self, *, ttl_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: tuple[float, dict[str, ExtensionDocument]] | None = None

    def register(self, document: ExtensionDocument) -> None:
        ExtensionRecord(REGISTRY, document.id, data=document.model_dump_json()).save()
        self._cache = None

    def all(self) -> dict[str, ExtensionDocument]:
        now = self._clock()
        if self._cache is None or now - self._cache[0] > self._ttl:
            documents = {
                r.sk: ExtensionDocument.model_validate_json(r.data or "{}")
                for r in ExtensionRecord.query(REGISTRY)
            }
            self._cache = (now, documents)
        return self._cache[1]

    def get(self, extension_id: str) -> ExtensionDocument | None:
        return self.all().get(extension_id)


class ExtensionState:
    """One extension's rows on one chat; every key it touches starts with ``<extension id>#``."""

    def __init__(self, extension_id: str, chat_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self.pk = f"{extension_id}#{chat_id}"
        self._clock = clock

    # -- delivery claims ---------------------------------------------------------------------------

    def claim(self, event_id: str, *, lease_seconds: float, keep_seconds: int) -> bool:
        """True if this delivery may run the handler: the event is new, or an earlier attempt's
        lease ran out (it crashed or hung). False for a duplicate (done, or running elsewhere)."""
        now = self._clock()
        record = ExtensionRecord(
            self.pk,
            f"seen#{event_id}",
            status="running",
            lease_until=now + lease_seconds,
            expires_at=_at(now + keep_seconds),
        )
        try:
            record.save(
                condition=ExtensionRecord.pk.does_not_exist()
                | ((ExtensionRecord.status == "running") & (ExtensionRecord.lease_until < now))
            )
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def commit(
        self,
        event_id: str,
        writes: Sequence[Write],
        outputs: Sequence[Mapping[str, Any]],
        *,
        keep_seconds: int,
    ) -> None:
        """The delivery's writes and its outputs (on its claim row) in one transaction."""
        now = self._clock()
        seen = ExtensionRecord(
            self.pk,
            f"seen#{event_id}",
            status="committed",
            data=json.dumps(list(outputs)),
            expires_at=_at(now + keep_seconds),
        )
        # the table's own (cached) connection: a transaction costs no new client
        transaction = TransactWrite(connection=ExtensionRecord._get_connection().connection)
        transaction.save(seen)
        for write in writes:
            self._stage(transaction, write, now)
        try:
            transaction._commit()
        except TransactWriteError as exc:
            codes = [r.code if r else None for r in exc.cancellation_reasons]
            if {"ConditionalCheckFailed", "TransactionConflict"} & set(codes):
                raise ConcurrentWriteError(f"state of {self.pk} changed during the delivery") from exc
            raise

    def _stage(self, transaction: TransactWrite, write: Write, now: float) -> None:
        record = ExtensionRecord(self.pk, f"kv#{write.key}")
        condition = None
        if write.expected is not None:
            # revision 0 is "never updated": absent, or written by a blind put (which sets none), as
            # the in-memory store counts it; the first update of a blindly written key then commits
            condition = (
                ExtensionRecord.pk.does_not_exist() | ExtensionRecord.revision.does_not_exist()
                if write.expected == 0
                else ExtensionRecord.revision == write.expected
            )
        if write.encoded is None:
            transaction.delete(record, condition=condition, add_version_condition=False)
            return
        record.data = write.encoded
        record.revision = (write.expected or 0) + 1 if write.expected is not None else None
        record.expires_at = _at(now + write.ttl_seconds) if write.ttl_seconds else None
        transaction.save(record, condition=condition)

    def pending(self, event_id: str) -> list[dict[str, Any]] | None:
        try:
            record = ExtensionRecord.get(self.pk, f"seen#{event_id}", consistent_read=True)
        except DoesNotExist:
            return None
        if record.status != "committed":
            return None
        outputs: list[dict[str, Any]] = json.loads(record.data or "[]")
        return outputs

    def running(self, event_id: str) -> bool:
        try:
            record = ExtensionRecord.get(self.pk, f"seen#{event_id}", consistent_read=True)
        except DoesNotExist:
            return False
        return record.status == "running" and (record.lease_until or 0) >= self._clock()

    def complete(self, event_id: str, *, keep_seconds: int) -> None:
        ExtensionRecord(
            self.pk, f"seen#{event_id}", status="done", expires_at=_at(self._clock() + keep_seconds)
        ).save()

    def release(self, event_id: str) -> None:
        ExtensionRecord(self.pk, f"seen#{event_id}").delete()

    # -- key/value state ---------------------------------------------------------------------------

    def read(self, key: str) -> tuple[str | None, int]:
        try:
            record = ExtensionRecord.get(self.pk, f"kv#{key}", consistent_read=True)
        except DoesNotExist:
            return None, 0
        return record.data, int(record.revision or 0)

    def get(self, key: str) -> Any | None:
        return decode(self.read(key)[0])

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None:
        expires = _at(self._clock() + ttl_seconds) if ttl_seconds else None
        ExtensionRecord(self.pk, f"kv#{key}", data=encode(value), expires_at=expires).save()

    def update(
        self,
        key: str,
        change: Callable[[Any | None], T],
        *,
        ttl_seconds: int | None = None,
        attempts: int = 20,
    ) -> T:
        """Read, change, write back only if nobody wrote in between (else read again)."""
        for _ in range(attempts):
            try:
                record: ExtensionRecord | None = ExtensionRecord.get(
                    self.pk, f"kv#{key}", consistent_read=True
                )
            except DoesNotExist:
                record = None
            current = decode(record.data) if record is not None else None
            revision = int(record.revision or 0) if record is not None else 0
            value = change(current)
            expires = _at(self._clock() + ttl_seconds) if ttl_seconds else None
            new = ExtensionRecord(
                self.pk, f"kv#{key}", data=encode(value), revision=revision + 1, expires_at=expires
            )
            condition = (
                ExtensionRecord.pk.does_not_exist()
                if record is None
                else ExtensionRecord.revision == revision
                if record.revision is not None
                else ExtensionRecord.revision.does_not_exist()
            )
            try:
                new.save(condition=condition)
            except PutError as exc:
                if _conditional_failed(exc):
                    continue
                raise
            return value
        raise ConcurrentWriteError(f"state {key!r} of {self.pk} kept changing under us")

    # -- blind writes (no read, idempotent) ----------------------------------------------------------

    def put_new(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> bool:
        """Write ``value`` under ``key`` unless the key holds something: True if it was new. One
        conditional PutItem, no read; a replay is refused by the condition."""
        expires = _at(self._clock() + ttl_seconds) if ttl_seconds else None
        record = ExtensionRecord(self.pk, f"kv#{key}", data=encode(value), expires_at=expires)
        try:
            record.save(condition=ExtensionRecord.pk.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def items_under(self, prefix: str) -> dict[str, Any]:
        """Every JSON value whose key starts with ``prefix``: one Query, page by page."""
        rows = ExtensionRecord.query(self.pk, ExtensionRecord.sk.startswith(f"kv#{prefix}"))
        return {r.sk.removeprefix("kv#"): decode(r.data) for r in rows if r.data}

    def tally(
        self,
        key: str,
        slot: str,
        counts: Mapping[str, int],
        tags: Mapping[str, Sequence[str]] | None = None,
        *,
        ttl_seconds: int | None = None,
    ) -> bool:
        """Add ``counts`` and ``tags`` to the row ``key`` once per ``slot``: one UpdateItem, no read.
        True if counted; False if ``slot`` was counted before (nothing changes)."""
        slots = Path("slots")
        actions: list[Action] = [slots.add({"SS": [slot]})]
        actions += [Path(f"c_{_name(n)}").add({"N": str(v)}) for n, v in counts.items() if v]
        actions += [Path(f"t_{_name(n)}").add({"SS": sorted(set(v))}) for n, v in (tags or {}).items() if v]
        if ttl_seconds:
            actions.append(ExtensionRecord.expires_at.set(_at(self._clock() + ttl_seconds)))
        try:
            ExtensionRecord(self.pk, f"kv#{key}").update(
                actions=actions, condition=slots.does_not_exist() | ~slots.contains(slot)
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def tallies(self, prefix: str) -> dict[str, Tally]:
        """Every tally row whose key starts with ``prefix``: one Query, page by page."""
        return {key: _tally_of(item) for key, item in self._raw_rows(f"kv#{prefix}")}

    def _raw_rows(self, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Rows as DynamoDB returns them: tally rows carry attributes the model does not declare."""
        connection = ExtensionRecord._get_connection()
        start: dict[str, Any] | None = None
        while True:
            page = connection.query(self.pk, ExtensionRecord.sk.startswith(prefix), exclusive_start_key=start)
            for item in page.get("Items", []):
                yield item["sk"]["S"].removeprefix("kv#"), item
            start = page.get("LastEvaluatedKey")
            if not start:
                return


Tally = dict[str, dict[str, Any]]
"""A tally row: ``{"counts": {name: int}, "tags": {name: set[str]}}``."""


def _name(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"a tally name is an identifier, not {name!r}")
    return name


def _tally_of(item: Mapping[str, Mapping[str, Any]]) -> Tally:
    counts = {k[2:]: int(v["N"]) for k, v in item.items() if k.startswith("c_") and "N" in v}
    tags = {k[2:]: set(v["SS"]) for k, v in item.items() if k.startswith("t_") and "SS" in v}
    return {"counts": counts, "tags": tags}
