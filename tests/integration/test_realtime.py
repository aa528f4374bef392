"""The real-time layer on moto: tickets, the WebSocket routes and actions, and the broadcaster's fan-out.

Handlers run as Lambda would run them; pushes reach moto's API Gateway management API, which keeps
what each connection received (see tests/support/sockets.py for the 410 and 500 answers).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

from infra.local.dispatch import LambdaContext
from infra.local.functions import load_handler
from parley import root
from parley.adapters.connections import ConnectionRepository
from parley.adapters.memory import InMemoryPusher
from parley.adapters.tables import ConnectionRecord, SubscriptionRecord
from parley.adapters.websocket import ManagementApiPusher
from parley.catalog import CLIENT_VISIBLE, parse_detail
from parley.errors import PushFailedError
from parley.ports import ConnectionGoneError
from parley.realtime import service as realtime_service
from parley.realtime.fanout import Broadcaster, FanoutResult
from parley.realtime.service import RealtimeService, TicketRejectedError
from parley.services.chats import Identity
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.chats import chat_of
from tests.support.sockets import (
    MANAGEMENT_URL,
    WEBSOCKET_URL,
    Gateway,
    Sockets,
    connection_row,
    effect,
    subscribed,
)


def event_log(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200})
    items: list[dict[str, Any]] = response.json["items"]
    return items


def as_frame(item: dict[str, Any]) -> dict[str, Any]:
    """The frame a client gets for an event-log entry."""
    meta = item["metadata"]
    return {
        "type": item["event_type"],
        "chat_id": meta["chat_id"],
        "sequence": item["sequence"],
        "event_id": item["event_id"],
        "occurred_at": meta["occurred_at"],
        "actor": meta["actor"],
        "data": item["data"],
    }


def but_presence(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames other than PresenceChanged, which every socket's subscribe may cause."""
    return [f for f in frames if f["type"] != "PresenceChanged"]


def deliver_broadcasts(bus: Bus) -> dict[str, Any]:
    """Hand every new row of the events table's stream the broadcaster takes to its Lambda as one
    stream batch (what its event source mapping would)."""
    stream = bus.streams()["broadcaster"]
    stream.poll()
    assert stream.pending, "nothing to broadcast"
    event = {"Records": list(stream.pending)}
    stream.pending.clear()
    result: dict[str, Any] = load_handler("broadcaster")(event, LambdaContext.for_function("broadcaster"))
    return result


# -- tickets and the handshake -------------------------------------------------------------------


def test_a_ticket_opens_exactly_one_handshake(sockets: Sockets, alice: User) -> None:
    # When Alice asks for a ticket
    before = datetime.now(UTC)
    response = sockets.api.post("/realtime/tickets", alice)

    # Then she gets a single-use ticket, the URL to connect to with it, and its expiry (60 s)
    assert response.status == 201, response.text
    body = response.json
    assert set(body) == {"ticket", "url", "expires_at"}
    assert body["url"] == f"{WEBSOCKET_URL}?ticket={body['ticket']}"
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=59) <= expires_at <= datetime.now(UTC) + timedelta(seconds=61)

    # When the authorizer sees it, Then the handshake is allowed, for Alice, once
    policy = sockets.authorize({"ticket": body["ticket"]}, "conn-1")
    assert effect(policy) == "Allow"
    assert policy["principalId"] == alice.user_id
    assert policy["context"] == {"user_id": alice.user_id, "name": alice.name}
    assert policy["policyDocument"]["Statement"][0]["Resource"].endswith("/$connect")

    # When the same ticket is presented again, Then it is denied
    again = sockets.authorize({"ticket": body["ticket"]}, "conn-2")
    assert effect(again) == "Deny"
    assert again["context"] == {}


def test_a_forged_ticket_is_denied(sockets: Sockets, alice: User) -> None:
    # Given a real ticket exists
    real = sockets.ticket(alice)

    # When someone presents a ticket that was never issued (or a real one, altered)
    forged = sockets.authorize({"ticket": "forged-" + "x" * 40})
    altered = sockets.authorize({"ticket": real[:-1] + ("A" if real[-1] != "A" else "B")})

    # Then both are denied, and the real ticket still works
    assert (effect(forged), effect(altered)) == ("Deny", "Deny")
    assert effect(sockets.authorize({"ticket": real})) == "Allow"


@pytest.fixture
def dynamodb_key_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB refuses a GetItem whose partition key is over 2,048 bytes; moto 5.2 does not: make it."""
    original = DynamoDBBackend.get_item

    def get_item(
        self: DynamoDBBackend, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        if any(DynamoType(value).size() > 2048 for value in keys.values()):
            raise MockValidationException(
                "One or more parameter values were invalid: "
                "Size of hashkey has exceeded the maximum size limit of 2048 bytes"
            )
        return original(self, table_name, keys, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item)


@pytest.mark.parametrize("length", [129, 2_100, 64_000])
@pytest.mark.usefixtures("dynamodb_key_limit")
def test_an_overlong_ticket_is_denied_not_a_crash(sockets: Sockets, alice: User, length: int) -> None:
    # Given a real ticket exists
    real = sockets.ticket(alice)

    # When a ticket longer than any ticket Parley issues reaches the authorizer (past 2 KB it could
    # not even be a DynamoDB key)
    policy = sockets.authorize({"ticket": (real * (length // len(real) + 1))[:length]})

    # Then the handshake is denied (403), and the real ticket still works
    assert effect(policy) == "Deny"
    assert effect(sockets.authorize({"ticket": real})) == "Allow"


def test_a_handshake_without_a_ticket_is_unauthorized(sockets: Sockets) -> None:
    # When the handshake carries no ticket, or an empty one
    # Then the authorizer raises "Unauthorized" (API Gateway answers 401)
    with pytest.raises(PermissionError, match=r"^Unauthorized$"):
        sockets.authorize({})
    with pytest.raises(PermissionError, match=r"^Unauthorized$"):
        sockets.authorize({"ticket": ""})


def realtime_service_at(clock: datetime, *, ttl: int) -> RealtimeService:
    """The composition root's service, with a fixed clock and ticket lifetime."""
    return RealtimeService(
        ConnectionRepository(),
        root.chat_repository(),
        root.chat_service(),
        root.outbox(),
        InMemoryPusher(),
        websocket_url=WEBSOCKET_URL,
        ticket_ttl_seconds=ttl,
        clock=lambda: clock,
    )


def test_an_expired_ticket_is_denied(sockets: Sockets, alice: User) -> None:
    # Given a ticket with the shortest lifetime, issued 10 s ago (so it expired 5 s ago)
    issued_at = datetime.now(UTC) - timedelta(seconds=10)
    ticket = realtime_service_at(issued_at, ttl=5).issue_ticket(Identity(alice.user_id, alice.name))

    # When it reaches the authorizer, Then the handshake is denied
    assert effect(sockets.authorize({"ticket": ticket.ticket})) == "Deny"


def test_a_ticket_is_good_until_its_expiry_and_not_after(sockets: Sockets, alice: User) -> None:
    # Given two tickets issued at the same instant (a whole second), valid for 5 s
    issued_at = datetime.now(UTC).replace(microsecond=0)
    issuer = realtime_service_at(issued_at, ttl=5)
    who = Identity(alice.user_id, alice.name)
    early, late = issuer.issue_ticket(who), issuer.issue_ticket(who)
    assert early.expires_at == issued_at + timedelta(seconds=5)

    # When one is redeemed a second before it expires, Then it is accepted
    assert realtime_service_at(issued_at + timedelta(seconds=4), ttl=5).authorize(early.ticket) == who

    # When the other is redeemed at its expiry, Then it is refused
    with pytest.raises(TicketRejectedError):
        realtime_service_at(issued_at + timedelta(seconds=5), ttl=5).authorize(late.ticket)


def test_a_ticket_is_good_until_the_expiry_it_was_issued_with(sockets: Sockets, alice: User) -> None:
    # Given a ticket issued at .9 of a second, valid for 5 s
    issued_at = datetime.now(UTC).replace(microsecond=900_000)
    who = Identity(alice.user_id, alice.name)
    ticket = realtime_service_at(issued_at, ttl=5).issue_ticket(who)

    # When it is redeemed half a second before the expires_at the client was given
    redeemer = realtime_service_at(ticket.expires_at - timedelta(milliseconds=500), ttl=5)

    # Then it is accepted
    assert redeemer.authorize(ticket.ticket) == who


def test_only_a_signed_in_user_gets_a_ticket(api: Api) -> None:
    # When nobody signed in asks for a ticket, Then the API answers 401
    response = api.post("/realtime/tickets")
    assert response.status == 401, response.text
    assert response.json["error"]["code"] == "not_authenticated"


# -- $connect and $disconnect ----------------------------------------------------------------------


def test_connect_stores_the_connection_and_disconnect_forgets_it_with_its_subscriptions(
    api: Api, bus: Bus, sockets: Sockets, alice: User
) -> None:
    # Given two of Alice's chats
    first, second = chat_of(api, bus, alice), chat_of(api, bus, alice)

    # When she connects twice (two tabs), through the whole handshake
    tab1, tab2 = sockets.open(alice, "tab-1"), sockets.open(alice, "tab-2")

    # Then each connection is stored under her name
    row = connection_row(tab1)
    assert row is not None
    assert (row.user_id, row.name) == (alice.user_id, alice.name)
    assert not row.chats
    assert row.expires_at > datetime.now(UTC) + timedelta(hours=2)

    # When the first tab subscribes to both chats and the second to one, then the first disconnects
    sockets.subscribe(tab1, first)
    sockets.subscribe(tab1, second)
    sockets.subscribe(tab2, first)
    row = connection_row(tab1)
    assert row is not None
    assert row.chats == {first, second}
    assert sockets.disconnect(tab1) == {"statusCode": 200}

    # Then its row and its subscriptions are gone, and the other tab's are untouched
    assert connection_row(tab1) is None
    assert subscribed(first) == {tab2}
    assert subscribed(second) == set()
    assert connection_row(tab2) is not None

    # And a second $disconnect (API Gateway may repeat it) is harmless
    assert sockets.disconnect(tab1) == {"statusCode": 200}


# -- actions ---------------------------------------------------------------------------------------


def test_ping_gets_pong(sockets: Sockets, alice: User) -> None:
    conn = sockets.open(alice, "conn-a")
    assert sockets.send(conn, action="ping") == {"type": "pong", "data": {}}


BAD_FRAMES: list[tuple[str | None, str]] = [
    # (the frame's text, a field the error must name; "" when the frame is not an action at all)
    ("not json", ""),
    ('{"action": "ping"', ""),
    ("[]", ""),
    ("null", ""),
    ("", ""),
    (None, ""),
    ('{"action": "dance"}', ""),
    ('{"chat_id": "c-1"}', ""),
    ('{"action": "ping", "extra": 1}', "ping.extra"),
    ('{"action": "subscribe"}', "subscribe.chat_id"),
    ('{"action": "subscribe", "chat_id": "c-1", "after_sequence": -1}', "subscribe.after_sequence"),
    ('{"action": "subscribe", "chat_id": "c-1", "since": 3}', "subscribe.since"),
    ('{"action": "sendMessage", "chat_id": "c-1", "text": "hi"}', "sendMessage.client_message_id"),
    ('{"action": "sendMessage", "chat_id": "c-1", "text": "", "client_message_id": "x"}', "sendMessage.text"),
    ('{"action": "typing", "chat_id": "' + "c" * 65 + '"}', "typing.chat_id"),
    # no chat has a sequence past JavaScript's safe integers; DynamoDB refuses over 38 digits
    (
        '{"action": "subscribe", "chat_id": "c-1", "after_sequence": ' + str(10**40) + "}",
        "subscribe.after_sequence",
    ),
    (
        '{"action": "subscribe", "chat_id": "c-1", "after_sequence": 9007199254740992}',
        "subscribe.after_sequence",
    ),
]


def test_a_bad_frame_gets_an_invalid_action_error_never_an_exception(sockets: Sockets, alice: User) -> None:
    # Given a connected socket
    conn = sockets.open(alice, "conn-a")

    for body, field in BAD_FRAMES:
        # When it sends something that is not a valid action
        reply = sockets.send_raw(conn, body)

        # Then the reply is an Error frame with code invalid_action, naming the problem
        assert reply["type"] == "Error", body
        assert reply["data"]["code"] == "invalid_action", body
        assert reply["data"]["fields"], body
        if field:
            assert field in [f["field"] for f in reply["data"]["fields"]], (body, reply)
        assert "sequence" not in reply

    # And the socket still works
    assert sockets.send(conn, action="ping")["type"] == "pong"


def test_a_frame_with_thousands_of_problems_gets_a_short_error(sockets: Sockets, alice: User) -> None:
    # Given a connected socket
    conn = sockets.open(alice, "conn-a")

    # When it sends a ping with 4,000 unknown fields, with long names
    body = json.dumps({"action": "ping", **{f"{'k' * 500}{i}": i for i in range(4000)}})
    reply = sockets.send_raw(conn, body)

    # Then the Error frame names the first ten problems, cut short, and counts the others
    assert reply["data"]["code"] == "invalid_action"
    assert len(reply["data"]["fields"]) == 10
    assert all(len(f["field"]) <= 100 for f in reply["data"]["fields"])
    assert reply["data"]["more_problems"] == 3990
    assert len(json.dumps(reply)) < 4096


def test_a_push_failing_during_replay_gets_an_error_frame_and_the_socket_keeps_working(
    api: Api, bus: Bus, sockets: Sockets, alice: User
) -> None:
    # Given a chat with history, and a socket whose pushes API Gateway fails with a 500
    chat_id = chat_of(api, bus, alice)
    conn = sockets.open(alice, "conn-a")
    sockets.gateway.broken.add(conn)

    # When it subscribes with resume
    reply = sockets.send(conn, action="subscribe", chat_id=chat_id, after_sequence=0)

    # Then the reply is an Error frame (not an unhandled exception), naming the action and the chat
    assert reply["type"] == "Error"
    assert reply["data"]["code"] == "internal_error"
    assert (reply["data"]["action"], reply["chat_id"]) == ("subscribe", chat_id)

    # And when the pushes work again, the same socket resumes
    sockets.gateway.broken.clear()
    assert sockets.subscribe(conn, chat_id, after_sequence=0)["data"]["replayed"] >= 1


def test_subscribing_to_a_chat_you_are_not_in_is_refused(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice's chat, and Bob, who is not in it, connected
    chat_id = chat_of(api, bus, alice)
    conn = sockets.open(bob, "conn-b")

    # When Bob subscribes to it, or to a chat that does not exist
    reply = sockets.send(conn, action="subscribe", chat_id=chat_id)
    unknown = sockets.send(conn, action="subscribe", chat_id="no-such-chat")

    # Then both are refused alike (outsiders learn nothing), and no subscription was stored
    assert reply["type"] == "Error"
    assert reply["chat_id"] == chat_id
    assert reply["data"]["code"] == "chat_not_found"
    assert reply["data"]["action"] == "subscribe"
    assert unknown["data"]["code"] == "chat_not_found"
    assert subscribed(chat_id) == set()
    row = connection_row(conn)
    assert row is not None
    assert not row.chats
    assert sockets.gateway.frames(conn) == []


def test_a_member_subscribes_and_learns_where_the_chat_stands(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a chat with two messages
    chat_id = chat_of(api, bus, alice, bob)
    api.send(alice, chat_id, "one")
    api.send(bob, chat_id, "two")
    bus.pump()
    chat = api.get(f"/chats/{chat_id}", alice).json

    # When Bob subscribes without after_sequence
    conn = sockets.open(bob, "conn-b")
    reply = sockets.subscribe(conn, chat_id)

    # Then he learns the chat's last event-log sequence and message sequence, and nothing is replayed
    assert reply == {
        "type": "Subscribed",
        "chat_id": chat_id,
        "sequence": chat["last_event_sequence"],
        "data": {
            "replayed": 0,
            "last_message_sequence": 2,
            "replayed_through": None,
            "complete": True,
            "connection_id": conn,
        },
    }
    assert subscribed(chat_id) == {conn}
    assert but_presence(sockets.gateway.frames(conn)) == []


def test_subscribing_after_a_sequence_replays_exactly_what_was_missed_in_order(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a round-robin chat where Alice and Bob posted twice each (with turn changes in between)
    chat_id = chat_of(api, bus, alice, bob, turn_mode="round_robin")
    for user, text in [(alice, "a1"), (bob, "b1"), (alice, "a2"), (bob, "b2")]:
        assert api.send(user, chat_id, text).status == 201
        bus.pump()
    log = event_log(api, alice, chat_id)
    last_seen = next(i["sequence"] for i in log if i["data"].get("message", {}).get("text") == "b1")

    # When Bob's socket comes back having seen everything up to his message "b1"
    conn = sockets.open(bob, "conn-b")
    reply = sockets.subscribe(conn, chat_id, after_sequence=last_seen)

    # Then exactly the client-visible events after it were pushed, in log order, and nothing older
    missed = [as_frame(i) for i in log if i["sequence"] > last_seen and i["event_type"] in CLIENT_VISIBLE]
    assert [m["type"] for m in missed] == [
        "TurnChanged",
        "MessageStored",
        "TurnChanged",
        "MessageStored",
        "TurnChanged",
    ]
    pushed = but_presence(sockets.gateway.frames(conn))
    assert pushed == missed
    assert reply["data"]["replayed"] == len(missed)
    assert reply["sequence"] == log[-1]["sequence"]
    assert (reply["data"]["replayed_through"], reply["data"]["complete"]) == (log[-1]["sequence"], True)


def test_a_replay_stops_at_its_bound_and_says_where_http_takes_over(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a replay bound of 5 log rows, and a chat with more events than that after sequence 0
    monkeypatch.setattr(realtime_service, "MAX_REPLAY_EVENTS", 5)
    monkeypatch.setattr(realtime_service, "REPLAY_PAGE", 2)
    chat_id = chat_of(api, bus, alice, bob)
    for n in range(6):
        api.send(alice, chat_id, f"m{n}")
    bus.pump()
    log = event_log(api, alice, chat_id)
    assert len(log) > 5

    # When Bob's socket resumes from 0
    conn = sockets.open(bob, "conn-b")
    reply = sockets.subscribe(conn, chat_id, after_sequence=0)

    # Then it got the client-visible events of the first 5 rows only, and the frame says so
    first = log[:5]
    assert but_presence(sockets.gateway.frames(conn)) == [
        as_frame(i) for i in first if i["event_type"] in CLIENT_VISIBLE
    ]
    assert reply["data"]["replayed_through"] == first[-1]["sequence"]
    assert reply["data"]["complete"] is False
    # and the rest is where the frame points: GET /events after replayed_through
    after = reply["data"]["replayed_through"]
    rest = api.get(f"/chats/{chat_id}/events", bob, query={"after": after, "limit": 200}).json["items"]
    assert [i["sequence"] for i in rest] == [i["sequence"] for i in log[5:]]
    # and resuming from there, bound after bound, ends complete at the log's last sequence
    throughs: list[int] = []
    data = reply["data"]
    while not data["complete"]:
        data = sockets.subscribe(sockets.open(bob, f"conn-{len(throughs)}"), chat_id, after_sequence=after)[
            "data"
        ]
        throughs.append(after := data["replayed_through"])
    assert throughs[-1] == log[-1]["sequence"]
    assert throughs == sorted(set(throughs))


def test_a_replay_of_exactly_the_bound_is_complete(
    api: Api, bus: Bus, sockets: Sockets, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = chat_of(api, bus, alice)
    log = event_log(api, alice, chat_id)
    monkeypatch.setattr(realtime_service, "MAX_REPLAY_EVENTS", len(log))
    reply = sockets.subscribe(sockets.open(alice, "conn-a"), chat_id, after_sequence=0)
    assert (reply["data"]["replayed_through"], reply["data"]["complete"]) == (log[-1]["sequence"], True)


def test_replaying_from_zero_skips_what_clients_never_see(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a chat whose log starts with ChatCreated (not a client frame)
    chat_id = chat_of(api, bus, alice, bob)
    api.send(bob, chat_id, "hi")
    bus.pump()
    log = event_log(api, alice, chat_id)
    assert log[0]["event_type"] == "ChatCreated"

    # When a socket subscribes after sequence 0, and another after the last sequence
    first, second = sockets.open(alice, "conn-1"), sockets.open(alice, "conn-2")
    everything = sockets.subscribe(first, chat_id, after_sequence=0)
    nothing = sockets.subscribe(second, chat_id, after_sequence=log[-1]["sequence"])

    # Then the first gets every client-visible event, the second nothing
    pushed = but_presence(sockets.gateway.frames(first))
    assert pushed == [as_frame(i) for i in log if i["event_type"] in CLIENT_VISIBLE]
    assert [f["type"] for f in pushed] == ["UserJoined", "UserJoined", "MessageStored"]
    assert everything["data"]["replayed"] == 3
    assert sockets.gateway.types(second) == ["PresenceChanged"]  # who is online, to this socket alone
    assert nothing["data"]["replayed"] == 0


def test_a_socket_gone_during_replay_is_forgotten(api: Api, bus: Bus, sockets: Sockets, alice: User) -> None:
    # Given a chat with history, and a socket that closes while it subscribes with resume
    chat_id = chat_of(api, bus, alice)
    conn = sockets.open(alice, "conn-a")
    sockets.gateway.gone.add(conn)

    # When it subscribes after sequence 0
    reply = sockets.subscribe(conn, chat_id, after_sequence=0)

    # Then the replay stopped at the first 410, and the connection and its subscription are gone
    assert reply["data"]["replayed"] == 0
    assert sockets.gateway.attempts_for(conn) == 1
    assert connection_row(conn) is None
    assert subscribed(chat_id) == set()


def test_unsubscribe_stops_the_chats_frames(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Bob subscribed to a chat
    chat_id = chat_of(api, bus, alice, bob)
    conn = sockets.open(bob, "conn-b")
    sockets.subscribe(conn, chat_id)

    # When he unsubscribes
    reply = sockets.send(conn, action="unsubscribe", chat_id=chat_id)

    # Then he is told so, his subscription is gone, and a later message does not reach him
    assert reply == {"type": "Unsubscribed", "chat_id": chat_id, "data": {}}
    assert subscribed(chat_id) == set()
    row = connection_row(conn)
    assert row is not None
    assert not row.chats
    api.send(alice, chat_id, "anyone?")
    bus.pump()
    assert but_presence(sockets.gateway.frames(conn)) == []

    # And unsubscribing again, or from a chat never subscribed to, is harmless
    assert sockets.send(conn, action="unsubscribe", chat_id=chat_id)["type"] == "Unsubscribed"
    assert sockets.send(conn, action="unsubscribe", chat_id="never")["type"] == "Unsubscribed"


def test_typing_is_announced_once_per_throttle_window(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice and Bob subscribed to their chat
    chat_id = chat_of(api, bus, alice, bob)
    a, b = sockets.open(alice, "conn-a"), sockets.open(bob, "conn-b")
    sockets.subscribe(a, chat_id)
    sockets.subscribe(b, chat_id)
    before = len(bus.emitted())

    # When Bob starts typing, and again straight away
    first = sockets.send(b, action="typing", chat_id=chat_id)
    second = sockets.send(b, action="typing", chat_id=chat_id)

    # Then both are acknowledged, the second as throttled, and one TypingStarted reached the bus
    assert first == {"type": "Ack", "chat_id": chat_id, "data": {"action": "typing", "throttled": False}}
    assert second["data"] == {"action": "typing", "throttled": True}
    emitted = bus.emitted()[before:]
    assert [e["detail-type"] for e in emitted] == ["TypingStarted"]
    typing = emitted[0]["detail"]
    assert typing["data"]["participant_id"] == bob.user_id
    assert typing["metadata"]["sequence"] is None
    assert typing["metadata"]["actor"] == {"id": bob.user_id, "kind": "user", "name": bob.name}

    # And the broadcaster pushes it to the chat's sockets, without a sequence, never in the log
    bus.pump()
    pushed = but_presence(sockets.gateway.frames(a))
    assert [(f["type"], f["data"]["participant_id"], "sequence" in f) for f in pushed] == [
        ("TypingStarted", bob.user_id, False)
    ]
    assert "TypingStarted" not in [i["event_type"] for i in event_log(api, alice, chat_id)]

    # When he stops typing, Then that is announced regardless of the throttle
    stopped = sockets.send(b, action="typing", chat_id=chat_id, typing=False)
    assert stopped["data"] == {"action": "typing", "throttled": False}
    assert bus.emitted_types()[-1] == "TypingStopped"


def test_typing_in_a_chat_you_are_not_in_is_refused(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice's chat and Bob, an outsider, connected
    chat_id = chat_of(api, bus, alice)
    conn = sockets.open(bob, "conn-b")
    before = len(bus.emitted())

    # When Bob types in it, Then he gets an Error and nothing reaches the bus
    reply = sockets.send(conn, action="typing", chat_id=chat_id)
    assert reply["type"] == "Error"
    assert (reply["data"]["code"], reply["data"]["action"]) == ("chat_not_found", "typing")
    assert len(bus.emitted()) == before


def test_typing_stays_throttled_for_the_whole_window(
    api: Api, bus: Bus, gateway: Gateway, alice: User
) -> None:
    # Given Alice connected to her chat, and a service whose clock the test moves (throttle: 3 s)
    chat_id = chat_of(api, bus, alice)
    start = datetime.now(UTC).replace(microsecond=900_000)
    clock = [start]
    service = RealtimeService(
        ConnectionRepository(),
        root.chat_repository(),
        root.chat_service(),
        root.outbox(),
        InMemoryPusher(),
        websocket_url=WEBSOCKET_URL,
        typing_throttle_seconds=3.0,
        clock=lambda: clock[0],
    )
    service.connect("conn-a", Identity(alice.user_id, alice.name))
    typing = json.dumps({"action": "typing", "chat_id": chat_id})
    assert service.handle("conn-a", typing).data["throttled"] is False

    # When she types again 2.1 s later, inside the window
    clock[0] = start + timedelta(seconds=2.1)
    again = service.handle("conn-a", typing)

    # Then that is still throttled
    assert again.data["throttled"] is True


def test_send_message_follows_the_same_rules_as_http(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a chat where Alice posted over HTTP
    chat_id = chat_of(api, bus, alice, bob)
    assert api.send(alice, chat_id, "over http").json["sequence"] == 1
    conn = sockets.open(bob, "conn-b")

    # When Bob posts over the socket
    ack = sockets.send(conn, action="sendMessage", chat_id=chat_id, text="over ws", client_message_id="b-1")

    # Then the Ack carries the stored message, next in sequence
    assert ack["type"] == "Ack"
    assert ack["chat_id"] == chat_id
    assert ack["data"]["action"] == "sendMessage"
    assert ack["data"]["replayed"] is False
    message = ack["data"]["message"]
    assert (message["sequence"], message["text"], message["sender_id"]) == (2, "over ws", bob.user_id)
    assert message["client_message_id"] == "b-1"

    # When he sends the same client_message_id again (a retry after a lost reply)
    again = sockets.send(conn, action="sendMessage", chat_id=chat_id, text="over ws", client_message_id="b-1")

    # Then he gets the first message back, marked replayed, and nothing new was stored or emitted
    assert again["data"]["replayed"] is True
    assert again["data"]["message"] == message
    history = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
    assert [(m["sequence"], m["text"]) for m in history] == [(1, "over http"), (2, "over ws")]
    assert bus.emitted_types().count("MessageStored") == 2

    # And HTTP carries on after it
    assert api.send(alice, chat_id, "back to http").json["sequence"] == 3


def test_send_message_out_of_turn_is_refused(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a round-robin chat where Alice holds the turn
    chat_id = chat_of(api, bus, alice, bob, turn_mode="round_robin")
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == alice.user_id
    conn = sockets.open(bob, "conn-b")

    # When Bob posts over the socket
    reply = sockets.send(
        conn, action="sendMessage", chat_id=chat_id, text="me first", client_message_id="b-1"
    )

    # Then he gets not_your_turn, nothing is stored, and the refusal is announced
    assert reply["type"] == "Error"
    assert reply["chat_id"] == chat_id
    assert (reply["data"]["code"], reply["data"]["action"]) == ("not_your_turn", "sendMessage")
    assert reply["data"]["turn_holder_id"] == alice.user_id
    assert api.get(f"/chats/{chat_id}/messages", alice).json["items"] == []
    assert bus.emitted_types()[-1] == "MessageRejected"


def test_an_action_on_an_unknown_connection_is_refused(sockets: Sockets) -> None:
    # When a connection that never connected (or was forgotten) sends an action
    reply = sockets.send("conn-nobody", action="ping")

    # Then it gets not_connected
    assert reply["type"] == "Error"
    assert (reply["data"]["code"], reply["data"]["action"]) == ("not_connected", "ping")


def test_an_action_on_an_expired_connection_is_refused(
    api: Api, bus: Bus, sockets: Sockets, alice: User
) -> None:
    # Given a connection row past its expiry (DynamoDB's TTL deletes rows hours late)
    chat_id = chat_of(api, bus, alice)
    conn = sockets.open(alice, "conn-a")
    row = connection_row(conn)
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    row.save()

    # When it sends an action, Then it gets not_connected and nothing is stored
    reply = sockets.send(conn, action="subscribe", chat_id=chat_id)
    assert (reply["type"], reply["data"]["code"], reply["data"]["action"]) == (
        "Error",
        "not_connected",
        "subscribe",
    )
    assert subscribed(chat_id) == set()


# -- the broadcaster -------------------------------------------------------------------------------


def message_frames(gateway: Gateway, connection_id: str) -> list[dict[str, Any]]:
    return [f for f in gateway.frames(connection_id) if f["type"] == "MessageStored"]


def test_a_message_reaches_every_subscribed_socket_of_the_members_once(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    # Given Alice with two tabs and Bob with one, all subscribed, and Carol, a member with no socket
    chat_id = chat_of(api, bus, alice, bob, carol)
    sockets_of = {
        "alice-1": alice,
        "alice-2": alice,
        "bob-1": bob,
    }
    for conn, user in sockets_of.items():
        sockets.open(user, conn)
        sockets.subscribe(conn, chat_id)
    # and a socket of Alice's that is connected but not subscribed to this chat
    idle = sockets.open(alice, "alice-idle")
    bus.pump()  # their PresenceChanged frames
    attempts_before = len(sockets.gateway.attempts)

    # When Bob posts
    api.send(bob, chat_id, "hello all")
    bus.pump()

    # Then each subscribed socket got the MessageStored frame exactly once, as the log has it
    stored = next(i for i in event_log(api, alice, chat_id) if i["event_type"] == "MessageStored")
    for conn in sockets_of:
        assert but_presence(sockets.gateway.frames(conn)) == [as_frame(stored)], conn
    frame = but_presence(sockets.gateway.frames("bob-1"))[0]
    assert {"type", "chat_id", "sequence", "event_id", "data"} <= set(frame)
    assert frame["data"]["message"]["text"] == "hello all"
    assert sockets.gateway.frames(idle) == []
    assert sorted(sockets.gateway.attempts[attempts_before:]) == sorted(sockets_of)


def test_a_socket_of_someone_no_longer_in_the_chat_gets_nothing_and_loses_its_subscription(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    # Given Bob subscribed, and a subscription row for Carol, who is not a member (say, removed)
    chat_id = chat_of(api, bus, alice, bob)
    sockets.open(bob, "bob-1")
    sockets.subscribe("bob-1", chat_id)
    sockets.open(carol, "carol-1")
    SubscriptionRecord(
        chat_id, "carol-1", user_id=carol.user_id, expires_at=datetime.now(UTC) + timedelta(hours=1)
    ).save()

    # When Alice posts
    api.send(alice, chat_id, "members only")
    bus.pump()

    # Then Bob got it, Carol's socket was never pushed to, and her subscription row was dropped
    assert len(message_frames(sockets.gateway, "bob-1")) == 1
    assert sockets.gateway.attempts_for("carol-1") == 0
    assert subscribed(chat_id) == {"bob-1"}


def test_a_member_who_left_stops_receiving(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice and Bob subscribed to their chat
    chat_id = chat_of(api, bus, alice, bob)
    for conn, user in {"alice-1": alice, "bob-1": bob}.items():
        sockets.open(user, conn)
        sockets.subscribe(conn, chat_id)

    # When Bob leaves, and Alice posts afterwards
    assert api.delete(f"/chats/{chat_id}/members/me", bob).status == 204
    bus.pump()
    api.send(alice, chat_id, "bye Bob")
    bus.pump()

    # Then Alice saw him leave and her own message, Bob saw nothing, and his subscription is gone
    assert [f["type"] for f in but_presence(sockets.gateway.frames("alice-1"))] == [
        "UserLeft",
        "MessageStored",
    ]
    assert but_presence(sockets.gateway.frames("alice-1"))[0]["data"]["participant_id"] == bob.user_id
    assert but_presence(sockets.gateway.frames("bob-1")) == []
    assert subscribed(chat_id) == {"alice-1"}


def test_a_socket_answering_410_is_pruned_and_the_others_still_get_the_frame(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Bob's two sockets subscribed to two chats, and Alice's socket; Bob's first socket died
    chat_id, other = chat_of(api, bus, alice, bob), chat_of(api, bus, bob)
    for conn, user in {"alice-1": alice, "bob-1": bob, "bob-2": bob}.items():
        sockets.open(user, conn)
        sockets.subscribe(conn, chat_id)
    sockets.subscribe("bob-1", other)
    sockets.gateway.gone.add("bob-1")
    sockets.gateway.attempts.clear()  # the presence pushes of the subscribes are not what is counted

    # When Alice posts
    api.send(alice, chat_id, "still there?")
    result = deliver_broadcasts(bus)

    # Then the batch succeeded, the live sockets got the frame, and the dead one was asked once
    assert result["batchItemFailures"] == []
    assert len(message_frames(sockets.gateway, "alice-1")) == 1
    assert len(message_frames(sockets.gateway, "bob-2")) == 1
    assert sockets.gateway.attempts_for("bob-1") == 1
    assert but_presence(sockets.gateway.frames("bob-1")) == []

    # And the dead connection and all of its subscriptions are gone
    assert connection_row("bob-1") is None
    assert subscribed(chat_id) == {"alice-1", "bob-2"}
    assert subscribed(other) == set()


def test_a_410_drops_the_subscription_even_when_the_connection_row_is_already_gone(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Bob's subscription row outlived its connection row ($disconnect is best effort, and the
    # connection row expires before a subscription made later), and his socket is closed for good
    chat_id = chat_of(api, bus, alice, bob)
    sockets.open(alice, "alice-1")
    sockets.subscribe("alice-1", chat_id)
    SubscriptionRecord(
        chat_id, "bob-1", user_id=bob.user_id, expires_at=datetime.now(UTC) + timedelta(hours=1)
    ).save()
    sockets.gateway.gone.add("bob-1")

    # When Alice posts twice
    api.send(alice, chat_id, "one")
    bus.pump()
    api.send(alice, chat_id, "two")
    bus.pump()

    # Then the first 410 dropped Bob's subscription: his dead socket was asked once, not at every message
    assert len(message_frames(sockets.gateway, "alice-1")) == 2
    assert subscribed(chat_id) == {"alice-1"}
    assert sockets.gateway.attempts_for("bob-1") == 1


def test_a_push_failing_with_500_is_retried_a_bounded_number_of_times_and_does_not_fail_the_batch(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice and Bob subscribed, and API Gateway failing every push to Bob's socket with a 500
    chat_id = chat_of(api, bus, alice, bob)
    for conn, user in {"alice-1": alice, "bob-1": bob}.items():
        sockets.open(user, conn)
        sockets.subscribe(conn, chat_id)
    bus.pump()  # their PresenceChanged frames
    sockets.gateway.broken.add("bob-1")
    attempts_before = sockets.gateway.attempts_for("bob-1")

    # When Alice posts and the broadcaster gets the event
    api.send(alice, chat_id, "can you hear me?")
    result = deliver_broadcasts(bus)

    # Then botocore tried Bob's socket a bounded number of times: PUSH_CONFIG allows 3 attempts in all
    assert sockets.gateway.attempts_for("bob-1") - attempts_before == 3
    # and the record is not reported failed
    assert result["batchItemFailures"] == []

    # And Alice got the frame, while Bob's connection is kept (a 500 is not a 410)
    assert len(message_frames(sockets.gateway, "alice-1")) == 1
    assert but_presence(sockets.gateway.frames("bob-1")) == []
    assert connection_row("bob-1") is not None
    assert subscribed(chat_id) == {"alice-1", "bob-1"}


def test_an_expired_subscription_is_ignored(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice subscribed, and Bob's subscription row past its expiry (TTL deletes rows late)
    chat_id = chat_of(api, bus, alice, bob)
    for conn, user in {"alice-1": alice, "bob-1": bob}.items():
        sockets.open(user, conn)
        sockets.subscribe(conn, chat_id)
    SubscriptionRecord(
        chat_id, "bob-1", user_id=bob.user_id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    ).save()
    sockets.gateway.attempts.clear()  # the presence pushes of the subscribes are not what is counted

    # When Alice posts
    api.send(alice, chat_id, "hello?")
    bus.pump()

    # Then only Alice's socket was pushed to
    assert len(message_frames(sockets.gateway, "alice-1")) == 1
    assert sockets.gateway.attempts_for("bob-1") == 0


def test_a_fan_out_counts_what_happened_to_each_subscriber(
    api: Api, bus: Bus, gateway: Gateway, alice: User, bob: User, carol: User
) -> None:
    # Given a chat with three subscriptions: Alice's live socket, Bob's closed one, and Carol's (not a member)
    chat_id = chat_of(api, bus, alice, bob)
    connections = ConnectionRepository()
    now = datetime.now(UTC)
    for conn, user in {"alice-1": alice, "bob-1": bob, "carol-1": carol}.items():
        connections.add_connection(conn, user_id=user.user_id, name=user.name, now=now)
        connections.subscribe(conn, chat_id, user_id=user.user_id, now=now)
    pusher = InMemoryPusher()
    pusher.gone.add("bob-1")
    broadcaster = Broadcaster(connections, root.chat_repository(), pusher, concurrency=2)

    # When a MessageStored is broadcast
    api.send(alice, chat_id, "counted")
    stored = event_log(api, alice, chat_id)[-1]
    result = broadcaster.broadcast(parse_detail({"metadata": stored["metadata"], "data": stored["data"]}))

    # Then the fan-out reports one delivered, one gone and one outsider, and pushed the frame once
    assert result == FanoutResult(delivered=1, gone=1, failed=0, not_members=1)
    assert [json.loads(f) for f in pusher.frames["alice-1"]] == [as_frame(stored)]
    assert subscribed(chat_id) == {"alice-1"}
    assert connection_row("bob-1") is None


# -- no echo to the socket a post came from (issue 15, B1) -----------------------------------------


def test_the_posting_socket_gets_no_echo_and_the_senders_other_device_does(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice on two devices and Bob, all subscribed
    chat_id = chat_of(api, bus, alice, bob)
    for conn, user in {"alice-phone": alice, "alice-laptop": alice, "bob-1": bob}.items():
        sockets.open(user, conn)
        origin = sockets.subscribe(conn, chat_id)["data"]["connection_id"]
        assert origin == conn
    bus.pump()

    # When Alice posts from her phone, naming its socket
    posted = api.send(alice, chat_id, "from my phone", origin_connection_id="alice-phone")
    bus.pump()

    # Then her phone gets no MessageStored, her laptop and Bob get it once
    assert posted.status == 201, posted.text
    assert message_frames(sockets.gateway, "alice-phone") == []
    pushed = message_frames(sockets.gateway, "alice-laptop")
    assert len(pushed) == 1
    assert message_frames(sockets.gateway, "bob-1") == pushed
    # and the answer carries that very frame, for the phone to apply in its place (a socket's frame
    # leaves out what is null; the answer's JSON says null)
    answered = {k: v for k, v in posted.json["frame"].items() if v is not None}
    assert answered == pushed[0]
    stored = event_log(api, alice, chat_id)[-1]
    assert answered == as_frame(stored)
    # and the origin stays out of the event as published and as read back
    assert "origin_connection_id" not in json.dumps(stored)
    published = [e for e in bus.emitted() if e["detail"]["metadata"]["event_id"] == stored["event_id"]]
    assert len(published) == 1
    assert "alice-phone" not in json.dumps(published)


def test_naming_someone_elses_socket_suppresses_nothing(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice and Bob subscribed
    chat_id = chat_of(api, bus, alice, bob)
    for conn, user in {"alice-1": alice, "bob-1": bob}.items():
        sockets.open(user, conn)
        sockets.subscribe(conn, chat_id)
    bus.pump()

    # When Alice posts naming Bob's socket as her origin (a forged or mistaken id)
    posted = api.send(alice, chat_id, "not yours to mute", origin_connection_id="bob-1")
    bus.pump()

    # Then both sockets get the message: only the poster's own socket can be skipped
    assert posted.status == 201, posted.text
    assert len(message_frames(sockets.gateway, "bob-1")) == 1
    assert len(message_frames(sockets.gateway, "alice-1")) == 1


def test_only_the_posts_message_skips_the_origin_and_a_replay_answers_without_a_frame(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a round-robin chat where Alice holds the floor, her socket subscribed
    chat_id = chat_of(api, bus, alice, bob, turn_mode="round_robin")
    sockets.open(alice, "alice-1")
    sockets.subscribe(alice_conn := "alice-1", chat_id)
    bus.pump()
    sockets.gateway.attempts.clear()

    # When she posts naming her socket, and her post passes the floor on
    body = {"client_message_id": "once", "origin_connection_id": alice_conn}
    posted = api.send(alice, chat_id, "my turn", **body)
    bus.pump()

    # Then her socket gets no MessageStored but does get the turn's move
    assert posted.status == 201, posted.text
    assert message_frames(sockets.gateway, alice_conn) == []
    assert "TurnChanged" in sockets.gateway.types(alice_conn)
    # and a retry of the same client_message_id answers the message without a frame
    again = api.send(alice, chat_id, "my turn", **body)
    assert again.status == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json["frame"] is None
    assert again.json["message_id"] == posted.json["message_id"]


# -- the pusher's error mapping --------------------------------------------------------------------


def test_the_pusher_maps_410_to_connection_gone_and_other_refusals_to_push_failed() -> None:
    # Given a management API client whose answers are stubbed
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=MANAGEMENT_URL,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    pusher = ManagementApiPusher(MANAGEMENT_URL, client=client)
    with Stubber(client) as stub:
        stub.add_response("post_to_connection", {}, {"ConnectionId": "ok", "Data": b"{}"})
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        stub.add_client_error(
            "post_to_connection", service_error_code="ForbiddenException", http_status_code=403
        )

        # When it pushes to a live socket, Then nothing is raised
        pusher.push("ok", b"{}")
        # When the socket is gone, Then ConnectionGoneError names it
        with pytest.raises(ConnectionGoneError, match="gone-1"):
            pusher.push("gone-1", b"{}")
        # When API Gateway refuses for another reason, Then it is a PushFailedError raised from it
        with pytest.raises(PushFailedError, match="forbidden-1") as refused:
            pusher.push("forbidden-1", b"{}")
        assert isinstance(refused.value.__cause__, ClientError)
        assert "ForbiddenException" in str(refused.value.__cause__)
        stub.assert_no_pending_responses()


def test_a_subscribe_racing_a_disconnect_leaves_no_row_behind(aws: Any) -> None:
    # Given a connection that disconnected (its row and subscriptions removed)
    repo = ConnectionRepository()
    now = datetime.now(UTC)
    repo.add_connection("c-race", user_id="user-alice", name="Alice", now=now)
    repo.remove_connection("c-race")

    # When its late subscribe is handled
    subscribed = repo.subscribe("c-race", "chat-1", user_id="user-alice", now=now)

    # Then nothing was written: no connection row without a user or TTL, no subscription to push to
    assert subscribed is False
    assert ConnectionRecord.count("c-race", consistent_read=True) == 0
    assert repo.subscribers("chat-1", now=now) == []
    # and a live connection still subscribes
    repo.add_connection("c-live", user_id="user-alice", name="Alice", now=now)
    assert repo.subscribe("c-live", "chat-1", user_id="user-alice", now=now) is True
    assert [s.connection_id for s in repo.subscribers("chat-1", now=now)] == ["c-live"]


def test_an_unsubscribe_racing_a_disconnect_leaves_no_row_behind(aws: Any) -> None:
    # Given a connection subscribed to a chat, which then disconnected
    repo = ConnectionRepository()
    now = datetime.now(UTC)
    repo.add_connection("c-gone", user_id="user-alice", name="Alice", now=now)
    repo.subscribe("c-gone", "chat-1", user_id="user-alice", now=now)
    repo.remove_connection("c-gone")

    # When its late unsubscribe is handled
    repo.unsubscribe("c-gone", "chat-1")

    # Then no connection row came back (without a user or TTL, nothing would ever remove it)
    assert ConnectionRecord.count("c-gone", consistent_read=True) == 0
    assert repo.subscribers("chat-1", now=now) == []
