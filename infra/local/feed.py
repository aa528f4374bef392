"""Every event on the local bus and every log line, newest kept: ``GET /local/events`` and `make tail`.

Events are taken where the bus accepted them (the PutEvents hook of ``fault_points``), so the feed
shows core events, extension events and the core's refusals (ExtensionEventRejected) alike. Log
lines at ``PARLEY_LOG_LEVEL`` and above (default WARNING) are kept beside them, under the function
that wrote them: the local stack runs every function in one process, so Powertools' injected
``function_name`` is whichever function started last; the thread that logs says which one it is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from parley.extensions.manifest import FOR_THE_GATEWAY_ONLY

LIMIT = 5000
"""Entries kept; older ones drop off (the feed is for watching, the event log is the record)."""
PAGE = 100
MAX_PAGE = 1000
WITHHELD = "(an ephemeral message: not kept)"
STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def function_of(thread: str) -> str:
    """The function a thread runs: the dispatcher's ``dispatch-<route>-<n>``, the SDK's
    ``ext-<id>`` handler thread, or the gateway's (api, realtime, hooks)."""
    if thread.startswith("dispatch-"):
        return thread.removeprefix("dispatch-").rsplit("-", 1)[0]
    if thread.startswith("ext-"):
        return "ext_" + thread.removeprefix("ext-")
    return "gateway"


class FunctionNames(logging.Filter):
    """Put the logging thread's function on each record (Powertools prints a record's own keys over
    its injected ones), so the console names the right function too."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.function_name = function_of(record.threadName or "")
        return True


class Feed(logging.Handler):
    def __init__(self, limit: int = LIMIT) -> None:
        super().__init__()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._n = 0
        self._lock = threading.Lock()

    def attach(self, logger: logging.Logger) -> None:
        logger.addFilter(FunctionNames())
        logger.addHandler(self)

    def _add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._n += 1
            self._entries.append({"n": self._n, "at": datetime.now(UTC).isoformat(), **entry})

    def record_events(self, entries: list[dict[str, Any]]) -> None:
        """PutEvents entries the bus accepted."""
        for entry in entries:
            try:
                detail = json.loads(entry.get("Detail") or "{}")
            except ValueError:
                detail = {"unparsed": entry.get("Detail")}
            metadata = detail.get("metadata") or {}
            data = detail.get("data") or {}
            if entry.get("DetailType") in FOR_THE_GATEWAY_ONLY and isinstance(data, dict) and "text" in data:
                # a message for one member's eyes: never kept, not even here (like the bus archive)
                data = detail["data"] = {**data, "text": WITHHELD}
            self._add(
                {
                    "kind": "event",
                    "type": entry.get("DetailType", ""),
                    "name": data.get("name") if isinstance(data, dict) else None,
                    "source": entry.get("Source", ""),
                    "chat_id": metadata.get("chat_id"),
                    "event_id": metadata.get("event_id"),
                    "detail": detail,
                }
            )

    def emit(self, record: logging.LogRecord) -> None:
        extra = {k: v for k, v in record.__dict__.items() if k not in STANDARD and k != "function_name"}
        if record.exc_info and record.exc_info[1] is not None:
            first = (str(record.exc_info[1]).splitlines() or [""])[0]
            extra["error"] = f"{type(record.exc_info[1]).__name__}: {first}"[:500]
        self._add(
            {
                "kind": "log",
                "type": record.levelname,
                "source": getattr(record, "function_name", None) or function_of(record.threadName or ""),
                "chat_id": extra.get("chat_id"),
                "message": record.getMessage(),
                "fields": json.loads(json.dumps(extra, default=str)),
            }
        )

    def query(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``limit`` newest entries (oldest first) after ``after``, filtered by ``type`` (detail-type,
        extension event name or log level; comma separated), ``source`` (prefix of the bus source or
        the function), ``kind`` (event, log) and ``chat_id``."""
        limit = max(1, min(MAX_PAGE, int(params.get("limit") or PAGE)))
        after = int(params.get("after") or 0)
        types = {t for t in (params.get("type") or "").split(",") if t}
        with self._lock:
            entries, last = list(self._entries), self._n
        found = [
            e
            for e in entries
            if e["n"] > after
            and (not types or e["type"] in types or e.get("name") in types)
            and str(e["source"]).startswith(params.get("source") or "")
            and params.get("kind") in (None, "", e["kind"])
            and params.get("chat_id") in (None, "", e.get("chat_id"))
        ]
        return {"items": found[-limit:], "last": last}
