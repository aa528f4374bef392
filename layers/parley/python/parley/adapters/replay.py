"""Replay's AWS side: the archive's StartReplay limited to one rule, and, locally, the stack's own log
read by time and sent into one route's queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from parley.adapters.aws import client as aws_client
from parley.adapters.tables import EventRecord


class ReplaySetupError(Exception):
    """The bus, its archive or the route's rule could not be found (or was found twice)."""


@dataclass(frozen=True)
class StartedReplay:
    name: str
    state: str
    archive_arn: str
    rule_arn: str


class ArchiveReplayer:
    """StartReplay from the bus's archive, delivered only to one rule (``Destination.FilterArns``)."""

    def __init__(self, bus_name: str, *, client: Any | None = None) -> None:
        self._bus_name = bus_name
        self._client: Any = client or aws_client("events")

    def rule_arn(self, pattern: dict[str, Any]) -> str:
        """The bus's rule with exactly this event pattern: CDK names rules itself, the routing table
        is what both sides agree on."""
        found: list[str] = []
        pages = self._client.get_paginator("list_rules").paginate(EventBusName=self._bus_name)
        for page in pages:
            found += [r["Arn"] for r in page["Rules"] if json.loads(r.get("EventPattern") or "{}") == pattern]
        if len(found) != 1:
            raise ReplaySetupError(f"{len(found)} rules on bus {self._bus_name} have the route's pattern")
        return found[0]

    def archive_arn(self, bus_arn: str) -> str:
        archives = self._client.list_archives(EventSourceArn=bus_arn)["Archives"]
        if len(archives) != 1:
            raise ReplaySetupError(f"{len(archives)} archives record bus {self._bus_name}")
        return str(self._client.describe_archive(ArchiveName=archives[0]["ArchiveName"])["ArchiveArn"])

    def start(self, name: str, pattern: dict[str, Any], start: datetime, end: datetime) -> StartedReplay:
        try:
            bus_arn = self._client.describe_event_bus(Name=self._bus_name)["Arn"]
            archive, rule = self.archive_arn(bus_arn), self.rule_arn(pattern)
            answer = self._client.start_replay(
                ReplayName=name,
                EventSourceArn=archive,
                EventStartTime=start,
                EventEndTime=end,
                Destination={"Arn": bus_arn, "FilterArns": [rule]},
            )
        except (BotoCoreError, ClientError) as exc:
            raise ReplaySetupError(f"the replay could not start: {exc}") from exc
        return StartedReplay(name, str(answer.get("State", "STARTING")), archive, rule)


class LogWindow:
    """The stack's own event log, every chat, between two times (a scan: an operator's command)."""

    def details(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Filtered here, not by the scan: a row keeps its time only inside its packed event (the
        scan reads, and is billed for, every row either way)."""
        low, high = start.astimezone(UTC), end.astimezone(UTC)
        found: list[tuple[datetime, str, int, dict[str, Any]]] = []
        for record in EventRecord.scan():
            detail = json.loads(record.detail_json())
            at = datetime.fromisoformat(detail["metadata"]["occurred_at"])
            if low <= at <= high:
                found.append((at, record.chat_id, int(record.sequence), detail))
        found.sort(key=lambda f: f[:3])
        return [f[3] for f in found]


class QueueSender:
    """Puts EventBridge events on a route's queue, as its rule would."""

    def __init__(self, *, client: Any | None = None) -> None:
        self._client: Any = client or aws_client("sqs")

    def send(self, queue_name: str, events: Sequence[dict[str, Any]]) -> None:
        try:
            url = self._client.get_queue_url(QueueName=queue_name)["QueueUrl"]
        except (BotoCoreError, ClientError) as exc:
            raise ReplaySetupError(f"no queue {queue_name}: {exc}") from exc
        for i in range(0, len(events), 10):
            batch = events[i : i + 10]
            answer = self._client.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "MessageBody": json.dumps(e)} for n, e in enumerate(batch)],
            )
            if answer.get("Failed"):
                raise ReplaySetupError(f"{len(answer['Failed'])} events were not queued on {queue_name}")
