"""A state change and its events never part: a publish that dies or fails is finished by the sweeper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from infra.local.dispatch import LambdaContext
from infra.local.functions import load_handler
from parley import root
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.tables import EventRecord
from parley.errors import PublishError, StoreError
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.faults import Fault, fault, put_events_failing


class LambdaKilledError(BaseException):
    """Stands for the runtime killing the function (timeout, OOM): nothing in it gets to react."""


def sweep() -> dict[str, int]:
    result: dict[str, int] = load_handler("outbox_sweeper")({}, LambdaContext.for_function("outbox_sweeper"))
    # the same run sweeps turn deadlines; these chats are seconds old, so none has expired
    assert result.pop("turns_moved") == 0
    return result


def log_of(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/chats/{chat_id}/events", user).json["items"]
    return items


def test_a_publish_killed_after_the_commit_is_published_later_by_the_sweeper(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a round-robin chat whose creation events have all been published
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    before = len(bus.emitted())
    assert sweep() == {"found": 0, "published": 0}

    # When the function dies between the DynamoDB transaction and PutEvents
    def killed(self: EventBridgePublisher, envelopes: Any) -> None:
        raise LambdaKilledError()

    with monkeypatch.context() as patch:
        patch.setattr(EventBridgePublisher, "publish", killed)
        with pytest.raises(LambdaKilledError):
            api.send(alice, chat_id, "written, never announced")

    # Then the message is stored and logged, but nothing reached the bus
    messages = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
    assert [m["text"] for m in messages] == ["written, never announced"]
    stored_event = log_of(api, alice, chat_id)[-1]
    assert stored_event["event_type"] == "MessageStored"
    assert len(bus.emitted()) == before

    # When the sweeper runs
    assert sweep() == {"found": 1, "published": 1}
    bus.pump()

    # Then the very same event (same event_id) was published once, and the flow carried on from it
    emitted = bus.emitted()[before:]
    assert [e["detail-type"] for e in emitted] == ["MessageStored", "TurnChanged"]
    assert emitted[0]["detail"]["metadata"]["event_id"] == stored_event["event_id"]
    assert emitted[1]["detail"]["metadata"]["causation_id"] == stored_event["event_id"]
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == bob.user_id

    # And a second sweep finds nothing left to do
    assert sweep() == {"found": 0, "published": 0}


@pytest.fixture
def put_events() -> Iterator[Fault]:
    with fault("events.PutEvents") as injected:
        yield injected


def test_a_bus_that_refuses_entries_does_not_fail_the_request_and_loses_nothing(
    api: Api, bus: Bus, alice: User, put_events: Fault
) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]
    bus.emitted()

    # When every PutEvents entry fails, retries included
    put_events.arm(put_events_failing("InternalFailure"))
    response = api.send(alice, chat_id, "still accepted")

    # Then the client still gets its message: the state change stands
    assert response.status == 201, response.text
    assert len(put_events.calls) == 3  # the publisher's attempts for a retryable error code
    # and while the bus stays down the sweeper cannot publish either, so it fails loudly
    with pytest.raises(PublishError, match="could not be published"):
        sweep()
    assert "MessageStored" not in bus.emitted_types()

    # When the bus is back, the sweeper publishes the waiting event exactly once
    put_events.disarm()
    assert sweep() == {"found": 1, "published": 1}
    stored = [e for e in bus.emitted() if e["detail-type"] == "MessageStored"]
    assert len(stored) == 1
    assert stored[0]["detail"]["data"]["message"]["text"] == "still accepted"


def test_a_non_retryable_refusal_is_attempted_once_and_kept_for_the_sweeper(
    api: Api, bus: Bus, alice: User, put_events: Fault
) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]

    # When the bus rejects the entry for good
    put_events.arm(put_events_failing("AccessDeniedException"))
    assert api.send(alice, chat_id, "kept").status == 201

    # Then it was not retried blindly, and it is still pending for the sweeper
    assert len(put_events.calls) == 1
    put_events.disarm()
    assert sweep() == {"found": 1, "published": 1}
    assert bus.emitted_types()[-1] == "MessageStored"


def test_a_flag_dynamodb_would_not_clear_is_a_store_error_and_the_event_is_published_again(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat, and DynamoDB refusing the update that clears an event's outbox flag
    chat_id = api.create_chat(alice)["chat_id"]
    bus.pump()
    assert sweep() == {"found": 0, "published": 0}

    def refused(self: EventRecord, *args: Any, **kwargs: Any) -> None:
        raise UpdateError(
            "refused", cause=ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
        )

    with monkeypatch.context() as patch:
        patch.setattr(EventRecord, "update", refused)
        # When the repository clears a flag, Then it raises the project's StoreError from PynamoDB's
        with pytest.raises(StoreError) as failed:
            root.chat_repository().mark_published([(chat_id, 1)])
        assert isinstance(failed.value.__cause__, UpdateError)

        # When a message is posted, Then the request succeeds and the event reaches the bus
        assert api.send(alice, chat_id, "published, still flagged").status == 201
        assert bus.emitted_types()[-1] == "MessageStored"

    # And the event stayed pending, so the sweeper publishes it again (consumers deduplicate)
    assert sweep() == {"found": 1, "published": 1}
    assert bus.emitted_types()[-2:] == ["MessageStored", "MessageStored"]
