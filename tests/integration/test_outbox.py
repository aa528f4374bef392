"""A state change and its events never part: a publish that dies or fails is finished by the sweeper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pynamodb.exceptions import UpdateError

from infra.local.dispatch import LambdaContext
from infra.local.functions import load_handler
from parley import root
from parley.adapters import dynamodb
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.tables import EventRecord
from parley.catalog import Actor, ChatCompleted, ExtensionConfigChanged, new_event
from parley.domain import extensions as installs
from parley.domain.model import Chat, Outcome
from parley.errors import ChangeTooLargeError, PublishError, StoreError
from parley.http.app import STATUS
from parley.services.chats import Identity
from parley.services.extensions import ExtensionService
from tests.support.api import Api, User, assert_error
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
    assert sweep() == {"found": 0, "published": 0, "failed": 0, "parked": 0}

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
    assert sweep() == {"found": 1, "published": 1, "failed": 0, "parked": 0}
    bus.pump()

    # Then the very same event (same event_id) was published once, and the flow carried on from it
    emitted = bus.emitted()[before:]
    assert [e["detail-type"] for e in emitted] == ["MessageStored", "TurnChanged"]
    assert emitted[0]["detail"]["metadata"]["event_id"] == stored_event["event_id"]
    assert emitted[1]["detail"]["metadata"]["causation_id"] == stored_event["event_id"]
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == bob.user_id

    # And a second sweep finds nothing left to do
    assert sweep() == {"found": 0, "published": 0, "failed": 0, "parked": 0}


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
    assert sweep() == {"found": 1, "published": 1, "failed": 0, "parked": 0}
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
    assert sweep() == {"found": 1, "published": 1, "failed": 0, "parked": 0}
    assert bus.emitted_types()[-1] == "MessageStored"


def test_a_flag_dynamodb_would_not_clear_is_a_store_error_and_the_event_is_published_again(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat, and DynamoDB refusing the update that clears an event's outbox flag
    chat_id = api.create_chat(alice)["chat_id"]
    bus.pump()
    assert sweep() == {"found": 0, "published": 0, "failed": 0, "parked": 0}

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
    assert sweep() == {"found": 1, "published": 1, "failed": 0, "parked": 0}
    assert bus.emitted_types()[-2:] == ["MessageStored", "MessageStored"]


# -- the sweeper can never be blocked (issue 13) ---------------------------------------------------


def _pending(chat_id: str) -> list[EventRecord]:
    return [r for r in EventRecord.query(chat_id) if r.outbox is not None]


def test_a_request_level_put_events_failure_after_the_commit_still_answers_201(
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
        # When a message is posted
        response = api.send(alice, chat_id, "committed while the bus is unreachable")

        # Then the committed write is a success, and its event waits in the outbox
        assert response.status == 201, response.text
        assert [r.event_type for r in _pending(chat_id)] == ["MessageStored"]
        put_events.disarm()

    # And the sweeper publishes it later
    result = sweep()
    assert result["published"] == 1
    assert result["failed"] == 0
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
    assert not _pending(chat_id)


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
    assert not _pending(chat_id)


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
    with monkeypatch.context() as patch:
        patch.setattr(EventBridgePublisher, "publish", bus_down)
        response = api.put(
            f"/chats/{chat_id}/extensions/moderation",
            alice,
            body={"enabled": True, "config": {"blocked_terms": ["x" * 270_000]}},
        )
    assert response.status == 201, response.text
    # and a normal event of another chat waiting behind it
    other = api.create_chat(alice)["chat_id"]
    with monkeypatch.context() as patch:
        patch.setattr(EventBridgePublisher, "publish", bus_down)
        api.send(alice, other, "waiting behind a hopeless event")
    assert len(_pending(other)) == 1
    waiting = len(_pending(chat_id)) + 1

    # When the sweeper runs
    result = sweep()

    # Then the hopeless event is parked (visible on its row), every other one is published
    assert result == {"found": waiting, "published": waiting - 1, "failed": 0, "parked": 1}
    parked = [r for r in EventRecord.query(chat_id) if r.parked is not None]
    assert [(r.event_type, r.parked) for r in parked] == [("ExtensionInstalled", "EventTooLarge")]
    assert not _pending(chat_id)
    assert not _pending(other)
    # and the next run has nothing left to do
    assert sweep() == {"found": 0, "published": 0, "failed": 0, "parked": 0}


def test_the_sweeper_steps_over_failures_and_visits_every_shard(
    api: Api, bus: Bus, alice: User, put_events: Fault
) -> None:
    # Given pending events in several chats (so several shards), the bus being down when they were written
    put_events.arm(put_events_failing("AccessDeniedException"))
    chats = [api.create_chat(alice)["chat_id"] for _ in range(6)]
    bad = set(chats[:3])
    pending = {c: len(_pending(c)) for c in chats}
    assert all(pending.values())

    # When the bus refuses, for good, every event of half of the chats and takes the others
    def refuse_bad(params: dict[str, Any]) -> dict[str, Any]:
        entries = json.loads(params["body"])["Entries"]
        chat_of = [json.loads(e["Detail"])["metadata"]["chat_id"] for e in entries]
        results = [
            {"ErrorCode": "AccessDeniedException", "ErrorMessage": "injected"}
            if c in bad
            else {"EventId": "x"}
            for c in chat_of
        ]
        return {"FailedEntryCount": sum(c in bad for c in chat_of), "Entries": results}

    put_events.arm(refuse_bad)
    # and the sweeper reads one event per page, so every failing page is stepped over
    result = root.outbox().sweep(now=datetime.now(UTC), grace_seconds=0, limit=1)

    # Then every good event was published, every bad one counted, none skipped
    bad_count = sum(pending[c] for c in bad)
    good_count = sum(pending[c] for c in chats if c not in bad)
    assert (result.found, result.published, result.failed, result.parked) == (
        bad_count + good_count,
        good_count,
        bad_count,
        0,
    )
    assert all(not _pending(c) for c in chats if c not in bad)
    assert all(len(_pending(c)) == pending[c] for c in bad)
