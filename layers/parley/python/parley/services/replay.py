"""Replay a time window into one route: from the bus's archive in AWS, from the stack's own log
locally. Consumers are idempotent, so a replay changes nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.adapters.replay import ArchiveReplayer, LogWindow, QueueSender, StartedReplay
from parley.catalog import parse_detail
from parley.routing import Route

LOCAL_ACCOUNT = "000000000000"


def _field_matches(value: Any, allowed: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(v in allowed for v in values)


def matches(route: Route, event: dict[str, Any]) -> bool:
    """EventBridge's matching as far as the routing table's patterns use it: detail-type, source
    (exact or prefix), and detail fields whose value (or, for an array, one element) is allowed."""
    pattern, source, detail = route.pattern, str(event.get("source")), event.get("detail") or {}
    if event.get("detail-type") not in pattern["detail-type"]:
        return False
    if not any(
        s == source or (isinstance(s, dict) and source.startswith(s["prefix"])) for s in pattern["source"]
    ):
        return False
    return all(
        _field_matches((detail.get(section) or {}).get(key), allowed)
        for section, fields in pattern.get("detail", {}).items()
        for key, allowed in fields.items()
    )


def eventbridge_event(detail: dict[str, Any], *, replay_name: str, region: str) -> dict[str, Any]:
    """A log row as its rule delivered it, marked as a replay (``replay-name``, as EventBridge does)."""
    envelope = parse_detail(detail)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": envelope.event_type,
        "source": envelope.source,
        "account": LOCAL_ACCOUNT,
        "time": envelope.metadata.occurred_at.isoformat(),
        "region": region,
        "resources": [],
        "detail": detail,
        "replay-name": replay_name,
    }


@dataclass(frozen=True)
class LocalReplay:
    name: str
    route: str
    sent: int


class ReplayService:
    def __init__(self, *, region: str, bus_name: str) -> None:
        self._region = region
        self._bus_name = bus_name

    def from_archive(self, route: Route, start: datetime, end: datetime, name: str) -> StartedReplay:
        """AWS: StartReplay of the window, delivered to the route's own rule only (its queue, retries
        and dead-letter queue apply as for live events)."""
        return ArchiveReplayer(self._bus_name).start(name, route.pattern, start, end)

    def into_route(self, route: Route, events: Iterable[dict[str, Any]], name: str) -> LocalReplay:
        """Send the events the route's rule matches onto its queue, in order, for the dispatcher."""
        chosen = [e for e in events if matches(route, e)]
        QueueSender().send(route.queue_name, chosen)
        return LocalReplay(name, route.name, len(chosen))

    def from_log(self, route: Route, start: datetime, end: datetime, name: str) -> LocalReplay:
        """Locally: the stack's own log stands in for the archive."""
        events = (
            eventbridge_event(d, replay_name=name, region=self._region)
            for d in LogWindow().details(start, end)
        )
        return self.into_route(route, events, name)
