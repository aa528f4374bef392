"""Inject AWS faults with botocore's before-call hook, so the real adapters meet real error shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse

from parley.adapters import aws

Responder = Callable[[dict[str, Any]], dict[str, Any] | None]


class Fault:
    """A switchable answer to one ``service.Operation``: armed, it replies instead of moto."""

    def __init__(self) -> None:
        self.respond: Responder | None = None
        self.calls: list[dict[str, Any]] = []

    def arm(self, respond: Responder) -> None:
        self.respond, self.calls = respond, []

    def disarm(self) -> None:
        self.respond = None

    def hook(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.respond is None:
            return None
        self.calls.append(params)
        parsed = self.respond(params)
        if parsed is None:
            return None
        return AWSResponse("https://fault.invalid", 200, {}, None), parsed


@contextmanager
def fault(service_operation: str) -> Iterator[Fault]:
    """Register a disarmed Fault on the session every adapter's client comes from.

    botocore copies the session's hooks into each client when it is created, so enter this before
    the code under test builds its clients (our adapters build them lazily, on first use).
    ``params`` given to the responder is botocore's serialized request (its ``body`` is the JSON).
    """
    injected = Fault()
    events = aws.session().get_component("event_emitter")
    event = f"before-call.{service_operation}"
    events.register(event, injected.hook, unique_id=f"fault-{service_operation}")
    try:
        yield injected
    finally:
        events.unregister(event, unique_id=f"fault-{service_operation}")


def put_events_failing(code: str = "InternalFailure") -> Responder:
    def respond(params: dict[str, Any]) -> dict[str, Any]:
        entries = json.loads(params["body"])["Entries"]
        return {
            "FailedEntryCount": len(entries),
            "Entries": [{"ErrorCode": code, "ErrorMessage": "injected fault"} for _ in entries],
        }

    return respond
