"""A strict EventBridge publisher: batches of 10 within the size limit, retries, never a silent drop."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from parley.adapters import aws
from parley.catalog import Envelope
from parley.errors import BusRulesError, EventTooLargeError, PublishError
from parley.observability import logger

MAX_ENTRIES_PER_REQUEST = 10
MAX_REQUEST_BYTES = 256 * 1024
RETRYABLE_CODES = frozenset(
    {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}
)
TOO_LARGE = "EventTooLarge"
"""The code of an entry EventBridge can never take: the outbox parks it instead of retrying it forever."""

CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "total_max_attempts": 2},
)
"""At most 2 x (1 s + 2 s) per request: a bus that hangs costs the 10 s api Lambda a few seconds,
never its life; what is not published then waits in the outbox for the sweeper."""


@dataclass(frozen=True)
class FailedEntry:
    event_id: str
    event_type: str
    code: str
    message: str


def entry_size(entry: dict[str, Any]) -> int:
    """PutEvents entry size as EventBridge counts it (UTF-8 bytes of its string fields)."""
    size = 14 if entry.get("Time") else 0
    for field in ("Source", "DetailType", "Detail"):
        size += len(entry.get(field, "").encode())
    size += sum(len(r.encode()) for r in entry.get("Resources", []))
    return size


def envelope_size(envelope: Envelope[Any]) -> int:
    """The envelope's PutEvents entry size, so a writer can refuse, before its commit, an event the
    bus would never take."""
    return entry_size(to_entry(envelope, ""))


def to_entry(envelope: Envelope[Any], bus_name: str) -> dict[str, Any]:
    return {
        "Source": envelope.source,
        "DetailType": envelope.event_type,
        "Detail": envelope.to_json(),
        "EventBusName": bus_name,
        "Time": envelope.metadata.occurred_at,
    }


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split into requests of at most 10 entries and at most 256 KiB each."""
    batch: list[dict[str, Any]] = []
    batch_bytes = 0
    for entry in entries:
        size = entry_size(entry)
        if batch and (len(batch) == MAX_ENTRIES_PER_REQUEST or batch_bytes + size > MAX_REQUEST_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(entry)
        batch_bytes += size
    if batch:
        yield batch


class EventBridgePublisher:
    """PutEvents with per-entry retries.

    botocore retries whole-request failures by itself; what it cannot see are entries that fail
    inside a 200 response, so those (and only retryable ones) are retried here with backoff.
    """

    def __init__(
        self,
        bus_name: str,
        *,
        client: Any | None = None,
        max_attempts: int = 3,
        backoff_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bus_name = bus_name
        self._client = client
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("events", config=CLIENT_CONFIG)
        return self._client

    def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        entries = [to_entry(e, self._bus_name) for e in envelopes]
        failed: list[FailedEntry] = []
        sendable: list[dict[str, Any]] = []
        for envelope, entry in zip(envelopes, entries, strict=True):
            size = entry_size(entry)
            if size > MAX_REQUEST_BYTES:
                meta = envelope.metadata
                failed.append(FailedEntry(meta.event_id, meta.event_type, TOO_LARGE, f"{size} bytes"))
            else:
                sendable.append(entry)
        too_large = len(failed)
        unreachable: Exception | None = None
        for batch in batches(sendable):
            if unreachable is None:
                try:
                    failed.extend(self._send(batch))
                    continue
                except (BotoCoreError, ClientError) as exc:
                    # after botocore's own retries: a bus that is down is not asked again in this call
                    unreachable = exc
                    logger.warning("put_events request failed", extra={"error": str(exc)})
            failed.extend(_failed_request(batch, unreachable))
        if failed:
            error = EventTooLargeError if too_large else PublishError
            raise error(
                f"{len(failed)} of {len(entries)} events were not published"
                + (f" ({too_large} over EventBridge's {MAX_REQUEST_BYTES} bytes)" if too_large else ""),
                failed=[f.__dict__ for f in failed],
            ) from unreachable

    def _send(self, batch: list[dict[str, Any]]) -> list[FailedEntry]:
        failed: list[FailedEntry] = []
        pending = batch
        for attempt in range(1, self._max_attempts + 1):
            response = self.client.put_events(Entries=pending)
            if not response.get("FailedEntryCount"):
                return failed
            retry: list[dict[str, Any]] = []
            for entry, result in zip(pending, response["Entries"], strict=True):
                code = result.get("ErrorCode")
                if not code:
                    continue
                if code in RETRYABLE_CODES and attempt < self._max_attempts:
                    retry.append(entry)
                else:
                    metadata = json.loads(entry["Detail"])["metadata"]
                    failed.append(
                        FailedEntry(
                            metadata["event_id"], entry["DetailType"], code, result.get("ErrorMessage", "")
                        )
                    )
            if not retry:
                return failed
            logger.warning(
                "put_events entries failed, retrying", extra={"count": len(retry), "attempt": attempt}
            )
            self._sleep(self._backoff * 2 ** (attempt - 1))
            pending = retry
        return failed


def _failed_request(batch: list[dict[str, Any]], exc: Exception) -> list[FailedEntry]:
    """Every entry of a request that failed as a whole (error answer, time-out, no connection)."""
    code = (
        exc.response.get("Error", {}).get("Code", "Unknown")
        if isinstance(exc, ClientError)
        else type(exc).__name__
    )
    return [
        FailedEntry(json.loads(e["Detail"])["metadata"]["event_id"], e["DetailType"], code, str(exc))
        for e in batch
    ]


class EventBridgeRules:
    """The event patterns of the rules on the bus that deliver to someone (ListRules, page by page).

    Rules managed by AWS (an archive's: a copy kept for replay, not a consumer) are left out; a
    disabled rule counts, as a consumer that an operator will replay into. Any failure is a
    ``BusRulesError``: the caller then publishes everything."""

    def __init__(self, bus_name: str, *, client: Any | None = None) -> None:
        self._bus_name = bus_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("events", config=CLIENT_CONFIG)
        return self._client

    def patterns(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        try:
            while True:
                page = self.client.list_rules(
                    EventBusName=self._bus_name, **({"NextToken": token} if token else {})
                )
                found += [json.loads(r["EventPattern"]) for r in page.get("Rules", []) if _delivers(r)]
                token = page.get("NextToken")
                if not token:
                    return found
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise BusRulesError(f"could not list the rules of bus {self._bus_name}") from exc


def _delivers(rule: dict[str, Any]) -> bool:
    """A rule that is or may again be a consumer: a disabled one counts (an operator who disables a
    failing consumer's rule replays its window from the archive later, which must hold it)."""
    return (
        not rule.get("ManagedBy")
        and not str(rule.get("Name", "")).startswith("Events-Archive-")
        and bool(rule.get("EventPattern"))
    )
