"""A state change and its events never part: the events table's stream is the outbox, and the relay
on it publishes every committed event, whatever the bus does meanwhile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from infra.local.functions import load_handler
from parley import root
from parley.adapters import dynamodb
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.tables import EventRecord
from parley.catalog import Actor, ChatCompleted, ExtensionConfigChanged, new_event
from parley.domain import extensions as installs
from parley.domain.model import Chat, Outcome
from parley.errors import ChangeTooLargeError, PublishError
from parley.http.app import STATUS
from parley.services.chats import Identity
from parley.services.extensions import ExtensionService
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus
from tests.support.faults import Fault, fault, put_events_failing


class LambdaKilledError(BaseException):
    """Stands for the runtime killing the function (timeout, OOM): nothing in it gets to react."""


def log_of(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/chats/{chat_id}/events", user).json["items"]
    return items


def relay_once(bus: Bus) -> tuple[int, int]:
    """One relay invocation on what the stream holds: (published, handed back)."""
    relay = bus.streams()["relay"]
    relay.poll()
    outcome = relay.deliver(load_handler("relay"))
    return len(outcome.delivered), outcome.failed


def test_the_writer_never_calls_the_bus_and_the_relay_publishes_the_committed_event(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a round-robin chat whose creation events have all been published
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    before = len(bus.emitted())

    # When a message is posted while any call to the bus would kill the function
    def killed(self: EventBridgePublisher, envelopes: Any) -> None:
        raise LambdaKilledError()

    with monkeypatch.context() as patch:
        patch.setattr(EventBridgePublisher, "publish", killed)
        response = api.send(alice, chat_id, "written, announced by the stream")

    # Then the request succeeded without the bus: the commit is the whole request
    assert response.status == 201, response.text
    stored_event = log_of(api, alice, chat_id)[-1]
    assert stored_event["event_type"] == "MessageStored"

    # When the relay reads the stream and the bus carries the flow on
    bus.pump()

    # Then the very same event (same event_id) was published once, and the flow carried on from it
    emitted = bus.emitted()[before:]
    assert [e["detail-type"] for e in emitted] == ["MessageStored", "TurnChanged"]
    assert emitted[0]["detail"]["metadata"]["event_id"] == stored_event["event_id"]
    assert emitted[1]["detail"]["metadata"]["causation_id"] == stored_event["event_id"]
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == bob.user_id


@pytest.fixture
def put_events() -> Iterator[Fault]:
    with fault("events.PutEvents") as injected:
        yield injected


def test_events_committed_while_the_bus_refuses_entries_are_published_once_it_takes_them(
    api: Api, bus: Bus, alice: User, put_events: Fault
) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]
    bus.emitted()

    # When every PutEvents entry fails, retries included
    put_events.arm(put_events_failing("InternalFailure"))
    response = api.send(alice, chat_id, "still accepted")

    # Then the client still gets its message: the writer never waits for the bus
    assert response.status == 201, response.text
    assert not put_events.calls
    # and the relay's attempt fails: the record is handed back to the stream, nothing is lost
    assert relay_once(bus) == (0, 1)
    assert len(put_events.calls) == 3  # the publisher's attempts for a retryable error code
    assert "MessageStored" not in [e["detail-type"] for e in bus.emitted(relay=False)]

    # When the bus is back, the next relay invocation publishes the waiting event exactly once
    put_events.disarm()
    assert relay_once(bus) == (1, 0)
    stored = [e for e in bus.emitted(relay=False) if e["detail-type"] == "MessageStored"]
    assert len(stored) == 1
    assert stored[0]["detail"]["data"]["message"]["text"] == "still accepted"


def test_a_non_retryable_refusal_is_attempted_once_per_invocation_and_handed_back(
    api: Api, bus: Bus, alice: User, put_events: Fault
) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]
    bus.emitted()

    # When the bus rejects the entry for good
    put_events.arm(put_events_failing("AccessDeniedException"))
    assert api.send(alice, chat_id, "kept").status == 201

    # Then the relay did not retry it blindly, and the stream hands it back to the next invocation
    assert relay_once(bus) == (0, 1)
    assert len(put_events.calls) == 1
    put_events.disarm()
    assert relay_once(bus) == (1, 0)
    assert bus.emitted_types()[-1] == "MessageStored"


def test_a_request_level_put_events_failure_is_handed_back_to_the_stream(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given a chat, and a bus whose PutEvents request fails as a whole (not entry by entry)
    chat_id = api.create_chat(alice)["chat_id"]
    bus.pump()
    with fault("events.PutEvents") as put_events:

        def unreachable(params: dict[str, Any]) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://events.invalid")

        put_events.arm(unreachable)
        root.reset()  # the publisher's client is built inside the fault, so the hook reaches it
        # When a message is posted, Then the committed write is a success
        response = api.send(alice, chat_id, "committed while the bus is unreachable")
        assert response.status == 201, response.text
        # and the relay's failed request hands its record back
        assert relay_once(bus) == (0, 1)
        put_events.disarm()

    # And the next invocation publishes it
    assert relay_once(bus) == (1, 0)
    assert bus.emitted_types()[-1] == "MessageStored"


def test_a_put_events_read_timeout_is_a_publish_error_from_the_sdk_error(aws: Any) -> None:
    # Given the publisher, and PutEvents timing out on every attempt
    publisher = root.publisher()
    chat_id = "chat-timeout"
    event = new_event(
        ChatCompleted(completed_by="u"), chat_id=chat_id, actor=Actor(id="u", kind="user")
    ).with_sequence(1, roster_version=1)
    with fault("events.PutEvents") as put_events:

        def timing_out(params: dict[str, Any]) -> dict[str, Any]:
            raise ReadTimeoutError(endpoint_url="https://events.invalid")

        put_events.arm(timing_out)
        root.reset()
        publisher = root.publisher()
        # When it publishes, Then the time-out is the project's PublishError, raised from botocore's
        with pytest.raises(PublishError) as failed:
            publisher.publish([event])
    assert isinstance(failed.value.__cause__, ReadTimeoutError)
    assert [f["event_id"] for f in failed.value.details["failed"]] == [event.metadata.event_id]
    # and botocore's budget for one request (attempts x (connect + read)) fits inside the api's 10 s
    config = publisher.client.meta.config  # type: ignore[attr-defined]
    budget = config.retries["total_max_attempts"] * (config.connect_timeout + config.read_timeout)
    assert budget <= 6


def test_an_oversized_config_is_refused_before_anything_is_committed(api: Api, bus: Bus, alice: User) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]
    bus.pump()
    before = len(log_of(api, alice, chat_id))

    # When a moderator sets a 270 KB blocked term
    response = api.put(
        f"/chats/{chat_id}/extensions/moderation",
        alice,
        body={"enabled": True, "config": {"blocked_terms": ["x" * 270_000]}},
    )

    # Then the 422 names the field, and nothing reached the log or the outbox
    error = assert_error(response, 422, "invalid_config")
    assert [f["field"] for f in error["fields"]] == ["config.blocked_terms.0"]
    assert len(log_of(api, alice, chat_id)) == before


def test_an_event_the_bus_could_never_take_is_refused_before_the_commit(api: Api, alice: User) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]
    sequence = root.chat_repository().load(chat_id).chat.last_event_sequence  # type: ignore[union-attr]
    who = Identity(alice.user_id, alice.name)

    # When a change would produce an event over EventBridge's 256 KiB (configs are bounded far below
    # it since, so the event is made directly: the commit's guard holds for any event)
    def huge(chat: Chat, now: datetime) -> Outcome:
        changed = ExtensionConfigChanged(extension_id="moderation", config={"blocked_terms": ["x" * 270_000]})
        return Outcome(chat=chat, events=(changed,))

    # Then it is refused with a typed error (413 on the HTTP path) and nothing is committed
    with pytest.raises(ChangeTooLargeError) as refused:
        root.chat_service().execute_as(who, chat_id, huge)
    assert STATUS[ChangeTooLargeError] == 413
    assert refused.value.details["event_type"] == "ExtensionConfigChanged"
    after = root.chat_repository().load(chat_id).chat.last_event_sequence  # type: ignore[union-attr]
    assert after == sequence


def bus_down(self: EventBridgePublisher, envelopes: Any) -> None:
    raise PublishError("the bus is down")


def test_an_event_that_can_never_be_published_is_parked_and_blocks_nothing(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an oversized event committed by an older version (before the size check existed)
    chat_id = api.create_chat(alice)["chat_id"]
    bus.pump()
    monkeypatch.setattr(dynamodb, "envelope_size", lambda envelope: 0)
    monkeypatch.setattr(ExtensionService, "_check", staticmethod(lambda *args: None))
    monkeypatch.setattr(installs, "MAX_CONFIG_BYTES", 10**9)  # nor the chat's bound on configs
    response = api.put(
        f"/chats/{chat_id}/extensions/moderation",
        alice,
        body={"enabled": True, "config": {"blocked_terms": ["x" * 270_000]}},
    )
    assert response.status == 201, response.text
    # and a normal event of another chat behind it in the stream
    other = api.create_chat(alice)["chat_id"]
    api.send(alice, other, "behind a hopeless event")
    before = len(bus.emitted(relay=False))

    # When the relay runs once
    published, handed_back = relay_once(bus)

    # Then the hopeless event is parked (visible on its row) and every other one is published
    assert handed_back == 0
    parked = [r for r in EventRecord.query(chat_id) if r.parked is not None]
    assert [(r.event_type, r.parked) for r in parked] == [("ExtensionInstalled", "EventTooLarge")]
    emitted = bus.emitted(relay=False)[before:]
    assert parked[0].event_id not in {e["detail"]["metadata"]["event_id"] for e in emitted}
    assert emitted[-1]["detail-type"] == "MessageStored"
    assert published == len(emitted) + 1  # the parked one counts as handled: it never blocks
    # and nothing is left for the relay (parking is a MODIFY, which its filter never passes)
    assert relay_once(bus) == (0, 0)


def test_a_record_that_keeps_failing_is_dead_lettered_blocks_nothing_and_is_redriven(
    api: Api, bus: Bus, alice: User, put_events: Fault
) -> None:
    # Given events of several chats, the bus refusing for good those of half of them
    chats = [api.create_chat(alice)["chat_id"] for _ in range(4)]
    bad = set(chats[:2])
    accepted: set[str] = set()

    def refuse_bad(params: dict[str, Any]) -> dict[str, Any]:
        entries = [json.loads(e["Detail"])["metadata"] for e in json.loads(params["body"])["Entries"]]
        accepted.update(m["event_id"] for m in entries if m["chat_id"] not in bad)
        results = [
            {"ErrorCode": "AccessDeniedException", "ErrorMessage": "injected"}
            if m["chat_id"] in bad
            else {"EventId": "x"}
            for m in entries
        ]
        return {"FailedEntryCount": sum(m["chat_id"] in bad for m in entries), "Entries": results}

    put_events.arm(refuse_bad)

    # When the relay drains the stream (retries, then bisecting a batch that keeps failing)
    bus.relay()
    put_events.disarm()

    # Then every good chat's events were published, and only the bad ones were dead-lettered, alone
    logged = {c: {e["event_id"] for e in log_of(api, alice, c)} for c in chats}
    assert set().union(*(logged[c] for c in chats if c not in bad)) <= accepted
    dlq = bus.provisioned.dlq_urls["relay"]
    depth = bus.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(depth["Attributes"]["ApproximateNumberOfMessages"]) == sum(len(logged[c]) for c in bad)
    assert bus.streams()["relay"].in_flight() == 0

    # When an operator redrives the DLQ (each position is read back from the stream)
    assert bus.streams()["relay"].redrive() == sum(len(logged[c]) for c in bad)
    bus.relay()

    # Then every committed event of the bad chats reached the bus too
    emitted = {e["detail"]["metadata"]["event_id"] for e in bus.emitted(relay=False)}
    assert set().union(*(logged[c] for c in bad)) <= emitted


def test_a_post_with_a_client_message_id_makes_two_requests_and_none_to_the_bus(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat, and every AWS request the api makes from now on counted (PynamoDB's too)
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/messages", alice, body={"text": "warm", "client_message_id": "c-0"})
    calls: list[str] = []
    original = BaseClient._make_api_call

    def counted(self: BaseClient, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    # When a client posts with a client_message_id (the web client always does)
    response = api.post(f"/chats/{chat_id}/messages", alice, body={"text": "hi", "client_message_id": "c-1"})

    # Then the chat's read and one transaction are all: no idempotency pre-read, no PutEvents,
    # no outbox flag update
    assert response.status == 201, response.text
    assert sorted(calls) == ["GetItem", "TransactWriteItems"], calls
