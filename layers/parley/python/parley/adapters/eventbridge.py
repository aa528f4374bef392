"""A strict EventBridge publisher: batches of 10 within the size limit, retries, never a silent drop."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

from parley.catalog import Envelope
from parley.errors import EventTooLargeError, PublishError
from parley.observability import logger

MAX_ENTRIES_PER_REQUEST = 10
MAX_REQUEST_BYTES = 256 * 1024
RETRYABLE_CODES = frozenset(
    {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}
)


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
            self._client = boto3.client("events")
        return self._client

    def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        entries = [to_entry(e, self._bus_name) for e in envelopes]
        failed: list[FailedEntry] = []
        sendable: list[dict[str, Any]] = []
        for envelope, entry in zip(envelopes, entries, strict=True):
            size = entry_size(entry)
            if size > MAX_REQUEST_BYTES:
                meta = envelope.metadata
                failed.append(FailedEntry(meta.event_id, meta.event_type, "EventTooLarge", f"{size} bytes"))
            else:
                sendable.append(entry)
        too_large = len(failed)
        for batch in batches(sendable):
            failed.extend(self._send(batch))
        if failed:
            error = EventTooLargeError if too_large else PublishError
            raise error(
                f"{len(failed)} of {len(entries)} events were not published"
                + (f" ({too_large} over EventBridge's {MAX_REQUEST_BYTES} bytes)" if too_large else ""),
                failed=[f.__dict__ for f in failed],
            )

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
