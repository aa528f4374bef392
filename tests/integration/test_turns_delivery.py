"""The turns handler tolerates duplicate and out-of-order delivery: the result is always the same."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra.local.dispatch import LambdaContext, sqs_event
from infra.local.functions import load_handler
from parley.consumers import BatchFailedError
from tests.support.api import Api, User
from tests.support.bus import Bus


def deliver(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Hand these exact queue messages to the turns Lambda as one SQS batch."""
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:parley-turns", "us-east-1")
    result: dict[str, Any] = load_handler("turns")(event, LambdaContext.for_function("turns"))
    return result


def turn_changes(bus: Bus) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == "TurnChanged"]


def three_member_chat(api: Api, bus: Bus, *users: User) -> str:
    chat_id: str = api.create_chat(users[0], turn_mode="round_robin")["chat_id"]
    for user in users[1:]:
        api.post(f"/chats/{chat_id}/members", user)
    bus.pump()
    return chat_id


def test_a_duplicated_message_stored_moves_the_turn_once(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given Alice holds the turn and has just posted
    chat_id = three_member_chat(api, bus, alice, bob, carol)
    before = len(turn_changes(bus))
    api.send(alice, chat_id, "one")
    queued = bus.raw_queue("turns")
    assert [m for m in queued if "MessageStored" in m["Body"]]

    # When the same MessageStored is delivered three times (twice in one batch, once later)
    assert deliver([*queued, *queued])["batchItemFailures"] == []
    assert deliver(queued)["batchItemFailures"] == []

    # Then the floor moved exactly once, to Bob
    changes = turn_changes(bus)[before:]
    assert [(c["holder_id"], c["reason"]) for c in changes] == [(bob.user_id, "message")]
    chat = api.get(f"/chats/{chat_id}", alice).json
    assert chat["turn"]["holder_id"] == bob.user_id


def test_reordered_events_reach_the_same_turn_as_in_order(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given Alice posts (her turn), then Bob leaves, and both events wait on the turns queue
    chat_id = three_member_chat(api, bus, alice, bob, carol)
    api.send(alice, chat_id, "hello")
    api.delete(f"/chats/{chat_id}/members/me", bob)
    queued = bus.raw_queue("turns")
    kinds = [m["Body"] for m in queued]
    assert any("MessageStored" in k for k in kinds)
    assert any("UserLeft" in k for k in kinds)

    # When they arrive newest first, and then again
    deliver(list(reversed(queued)))
    deliver(queued)

    # Then Carol holds the turn: the successor of Alice among the members still there, moved once
    chat = api.get(f"/chats/{chat_id}", alice).json
    assert chat["turn"]["holder_id"] == carol.user_id
    assert [c["holder_id"] for c in turn_changes(bus) if c["reason"] != "started"] == [carol.user_id]


def test_the_holder_leaving_passes_the_turn_to_the_next_member(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given Alice posted, so Bob holds the turn
    chat_id = three_member_chat(api, bus, alice, bob, carol)
    api.send(alice, chat_id, "over to Bob")
    bus.pump()
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == bob.user_id

    # When Bob leaves
    api.delete(f"/chats/{chat_id}/members/me", bob)
    bus.pump()

    # Then Carol, who joined after Bob, holds it (reason: left)
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == carol.user_id
    assert turn_changes(bus)[-1]["reason"] == "left"


def test_an_event_type_the_route_does_not_subscribe_to_fails_loudly(api: Api, bus: Bus, alice: User) -> None:
    # Given a ChatCreated event, which the turns route does not subscribe to, put on its queue by mistake
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    created = next(e for e in bus.emitted() if e["detail-type"] == "ChatCreated")
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = bus.provisioned.queue_urls["turns"]
    bus.raw_queue("turns")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(created))
    queued = bus.raw_queue("turns")

    # When it is delivered alone, Then the invocation fails (the batch is retried, then dead-lettered)
    with pytest.raises(BatchFailedError, match="All records failed"):
        deliver(queued)

    # And beside a good record, only the bad one is reported failed
    api.send(alice, chat_id, "fine")
    good = bus.raw_queue("turns")
    result = deliver([*queued, *good])
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [queued[0]["MessageId"]]
