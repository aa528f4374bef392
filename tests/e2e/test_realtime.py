"""Two people chatting through the local stack: pushes, typing, resume, pruning, refusals."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.stack import Client


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """The fan-out finishes its bookkeeping just after the pushes; wait for it, within bounds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def is_message(text: str) -> Any:
    return lambda f: f["type"] == "MessageStored" and f["data"]["message"]["text"] == text


def test_two_users_exchange_messages_and_see_each_other_typing(stack: str) -> None:
    # Given Alice and Bob in a chat, each with a subscribed socket
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Coffee")
    bob.join(chat_id)
    a, b = alice.socket(), bob.socket()
    assert a.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"
    assert b.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When Alice posts over HTTP and Bob answers over the socket
    sent = alice.post(chat_id, "tea or coffee?")
    pushed = b.wait_for(is_message("tea or coffee?"))
    ack = b.request("Ack", action="sendMessage", chat_id=chat_id, text="coffee", client_message_id="b-1")
    answer = a.wait_for(is_message("coffee"))

    # Then each sees the other's message with its sequences
    assert pushed["sequence"] is not None
    assert pushed["data"]["message"]["sequence"] == sent["sequence"]
    assert ack["data"]["message"]["sequence"] == sent["sequence"] + 1
    assert answer["actor"]["id"] == bob.user_id

    # When Bob types, Then Alice sees it (and it is never stored in history)
    assert b.request("Ack", action="typing", chat_id=chat_id)["data"]["throttled"] is False
    typing = a.wait_for(lambda f: f["type"] == "TypingStarted")
    assert typing["data"]["participant_id"] == bob.user_id
    assert "sequence" not in typing
    log = alice.call("GET", f"/chats/{chat_id}/events").json["items"]
    assert "TypingStarted" not in [e["event_type"] for e in log]
    a.close()
    b.close()


def test_a_dropped_socket_resumes_with_exactly_what_it_missed(stack: str) -> None:
    # Given Bob's socket saw the chat up to some sequence
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat()
    bob.join(chat_id)
    b = bob.socket()
    b.request("Subscribed", action="subscribe", chat_id=chat_id)
    alice.post(chat_id, "before the drop")
    last_seen = b.wait_for(is_message("before the drop"))["sequence"]
    b.close()

    # When two messages are posted while Bob is away, and Bob reconnects with resume
    alice.post(chat_id, "missed 1")
    alice.post(chat_id, "missed 2")
    b = bob.socket()
    b.send(action="subscribe", chat_id=chat_id, after_sequence=last_seen)
    frames = [b.wait_for(lambda f: f["type"] != "PresenceChanged") for _ in range(3)]

    # Then the missed events arrive first, once each, in order, then the subscription ack
    # (beside Bob's own PresenceChanged, ephemeral, which may come at any point)
    assert [f["type"] for f in frames] == ["MessageStored", "MessageStored", "Subscribed"]
    assert [f["data"]["message"]["text"] for f in frames[:2]] == ["missed 1", "missed 2"]
    assert [f["sequence"] for f in frames[:2]] == [last_seen + 1, last_seen + 2]
    assert frames[2]["data"]["replayed"] == 2
    assert [f for f in b.drain() if f["type"] != "PresenceChanged"] == []
    b.close()


def test_the_posting_socket_gets_no_echo_and_the_senders_other_device_does(stack: str) -> None:
    # Given Alice on a phone and a laptop, and Bob, each socket subscribed
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat()
    bob.join(chat_id)
    phone, laptop, b = alice.socket(), alice.socket(), bob.socket()
    origin = phone.request("Subscribed", action="subscribe", chat_id=chat_id)["data"]["connection_id"]
    for socket in (laptop, b):
        socket.request("Subscribed", action="subscribe", chat_id=chat_id)

    # When Alice posts from her phone, naming its socket
    body = {"text": "sent from my phone", "origin_connection_id": origin}
    posted = alice.call("POST", f"/chats/{chat_id}/messages", body)
    assert posted.status == 201, posted.json

    # Then her laptop and Bob get the push, her phone does not; the answer is the phone's copy
    on_laptop = laptop.wait_for(is_message("sent from my phone"))
    assert b.wait_for(is_message("sent from my phone")) == on_laptop
    assert {k: v for k, v in posted.json["frame"].items() if v is not None} == on_laptop
    alice.post(chat_id, "a later one, no origin")
    assert phone.wait_for(lambda f: f["type"] == "MessageStored")["data"]["message"]["text"] == (
        "a later one, no origin"
    )
    assert [f for f in phone.drain() if f["type"] == "MessageStored"] == []
    for socket in (phone, laptop, b):
        socket.close()


def test_a_gone_connection_is_pruned_and_the_others_still_get_the_push(stack: str) -> None:
    # Given Alice's live socket, and a stale connection of Bob's whose socket vanished without
    # $disconnect (its rows are still in DynamoDB, so API Gateway would answer 410 Gone)
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat()
    bob.join(chat_id)
    a = alice.socket()
    a.request("Subscribed", action="subscribe", chat_id=chat_id)
    endpoint = alice.call("GET", "/local/stats").json["aws_endpoint"]
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    stale = f"stale-{uuid.uuid4().hex[:8]}"
    dynamodb.put_item(
        TableName="parley-connections",
        Item={
            "connection_id": {"S": stale},
            "user_id": {"S": bob.user_id},
            "name": {"S": "Bob"},
            "connected_at": {"S": "2026-01-01T00:00:00+00:00"},
            "chats": {"SS": [chat_id]},
            "expires_at": {"N": "4102444800"},
        },
    )
    dynamodb.put_item(
        TableName="parley-subscriptions",
        Item={
            "chat_id": {"S": chat_id},
            "connection_id": {"S": stale},
            "user_id": {"S": bob.user_id},
            "expires_at": {"N": "4102444800"},
        },
    )

    # When Alice posts
    alice.post(chat_id, "anyone there?")

    # Then Alice's socket still gets the push, and the stale connection is gone from both tables
    a.wait_for(is_message("anyone there?"))

    def subscribed() -> list[str]:
        items = dynamodb.query(
            TableName="parley-subscriptions",
            KeyConditionExpression="chat_id = :c",
            ExpressionAttributeValues={":c": {"S": chat_id}},
        )["Items"]
        return [s["connection_id"]["S"] for s in items]

    stale_key = {"connection_id": {"S": stale}}

    def pruned() -> bool:
        row = dynamodb.get_item(TableName="parley-connections", Key=stale_key)
        return stale not in subscribed() and "Item" not in row

    eventually(pruned)
    assert len(subscribed()) == 1
    a.close()


def test_a_non_members_socket_receives_nothing_of_the_chat(stack: str) -> None:
    # Given Mallory, signed in but not a member, with a socket that tries to subscribe
    alice, mallory = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Mallory")
    chat_id = alice.create_chat(title="Private")
    m = mallory.socket()
    refused = m.request("Subscribed", action="subscribe", chat_id=chat_id)

    # When Alice posts and types
    alice.post(chat_id, "secret")

    # Then Mallory's subscription was refused and nothing of the chat reached her socket
    assert refused["type"] == "Error"
    assert refused["data"]["code"] == "chat_not_found"
    assert "Private" not in json.dumps(refused)
    assert m.drain(quiet=1.0) == []
    m.close()


def test_reused_forged_and_missing_tickets_are_refused_at_the_handshake(stack: str) -> None:
    # Given a ticket that has been used once
    alice = Client.sign_in(stack, "Alice")
    url = alice.ticket_url()
    connect(url, open_timeout=10).close()
    ws_base = url.split("?")[0]

    # When it is used again, or a forged or no ticket is used
    # Then the handshake itself is refused: 403 for a bad ticket, 401 for none
    for bad, status in ((url, 403), (f"{ws_base}?ticket=forged", 403), (ws_base, 401)):
        with pytest.raises(InvalidStatus) as refused:
            connect(bad, open_timeout=10)
        assert refused.value.response.status_code == status


def test_the_http_api_refuses_a_forged_token(stack: str) -> None:
    # Given a token signed by someone else's key
    alice = Client.sign_in(stack, "Alice")
    header, payload, _ = alice.token.split(".")
    alice.token = f"{header}.{payload}.c2lnbmF0dXJl"

    # When it is used, Then the gateway refuses it as API Gateway's JWT authorizer would
    assert alice.call("GET", "/chats").status == 401
