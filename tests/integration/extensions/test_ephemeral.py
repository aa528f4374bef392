"""Ephemeral messages on moto, through the real gateway: an extension's message for one member reaches
that member's sockets and nobody else's, and nothing of it is stored anywhere; the gateway's checks
(membership, rate) refuse and record like a bot message's."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parley import root
from parley.adapters.tables import TABLES, EventRecord
from parley.catalog import Actor, Envelope, ExtensionEphemeralRequested, new_event
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from parley.services.ephemeral import EphemeralService
from parley.topology import queue_routes
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets

SECRET = "psst, only you"


@pytest.fixture
def sockets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Sockets:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    return Sockets(api, gateway)


def whisperer(to: str | None = None) -> Extension[Any]:
    """Answers each post with a message for the poster alone (or for ``to``)."""
    extension: Extension[Any] = Extension(
        Manifest(
            id="whisperer",
            version="1.0.0",
            name="Whisperer",
            description="Whispers back.",
            events=("MessageStored",),
            capabilities=frozenset({"messages:ephemeral"}),
        )
    )

    @extension.on("MessageStored")
    def answer(event: Envelope[Any], ctx: Context[Any]) -> None:
        ctx.send_ephemeral(to or event.data.message.sender_id, f"{SECRET} ({event.data.message.text})")

    return extension


def chat_with_the_whisperer(api: Api, bus: Bus, owner: User, *members: User, **settings: Any) -> str:
    chat_id: str = api.create_chat(owner)["chat_id"]
    for member in members:
        assert api.post(f"/chats/{chat_id}/members", member).status == 200
    if settings:
        assert api.patch(f"/chats/{chat_id}/settings", owner, body=settings).status == 200
    body = {"enabled": True, "config": {}}
    assert api.put(f"/chats/{chat_id}/extensions/whisperer", owner, body=body).status == 201
    bus.pump()
    return chat_id


def ephemeral_frames(sockets: Sockets, connection_id: str) -> list[dict[str, Any]]:
    return [f for f in sockets.gateway.frames(connection_id) if f["type"] == "EphemeralMessage"]


def stored_anywhere(text: str) -> list[str]:
    """Every table whose items mention ``text`` (a scan of each: this is a test's small world)."""
    return [t.key for t in TABLES if any(text in _readable(i) for i in t.model.scan())]


def _readable(item: Any) -> str:
    """An item as its readers see it: an event row's packed event unpacked, or text in it would pass
    unseen."""
    raw = json.dumps(item.serialize(null_check=False), default=bytes.hex)  # day items hold no state
    return raw + item.detail_json() if isinstance(item, EventRecord) else raw


def routes_holding(bus: Bus, detail_type: str) -> set[str]:
    """The queue routes with a waiting event of ``detail_type`` (peeked, left on the queue)."""
    holding = set()
    for route in queue_routes():
        url = bus.provisioned.queue_urls[route.name]
        waiting = bus.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        if any(json.loads(m["Body"])["detail-type"] == detail_type for m in waiting.get("Messages", [])):
            holding.add(route.name)
    return holding


def test_an_ephemeral_message_reaches_only_its_members_sockets_and_is_never_stored(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    extension = whisperer()
    with registered(extension):
        # Given Alice on two sockets and Bob on one, in a chat with the whisperer enabled
        chat_id = chat_with_the_whisperer(api, bus, alice, bob)
        for connection_id, user in (("alice-1", alice), ("alice-2", alice), ("bob-1", bob)):
            sockets.subscribe(sockets.open(user, connection_id), chat_id)
        last_event = api.get(f"/chats/{chat_id}", alice).json["last_event_sequence"]

        # When Alice posts and the whisperer answers her alone
        assert api.send(alice, chat_id, "hello").status == 201
        assert deliver(extension, bus.emitted(), **{"detail-type": "MessageStored"}) == [True]
        # Then only the core's gateway has the request waiting: no other route's rule matched it
        assert routes_holding(bus, "ExtensionEphemeralRequested") == {"extension_gateway"}
        bus.pump()

    # Then each of Alice's sockets got it once, marked ephemeral and without a sequence
    for connection_id in ("alice-1", "alice-2"):
        (frame,) = ephemeral_frames(sockets, connection_id)
        assert frame["ephemeral"] is True
        assert "sequence" not in frame
        assert frame["data"]["text"] == f"{SECRET} (hello)"
        assert frame["data"]["participant_id"] == alice.user_id
        assert (frame["data"]["sender_id"], frame["data"]["extension_id"]) == ("ext:whisperer", "whisperer")
    # And Bob got nothing of it
    assert ephemeral_frames(sockets, "bob-1") == []
    assert SECRET not in json.dumps(sockets.gateway.frames("bob-1"))
    # And it is in no table: not a message, not an event row, not the inbox, not the extension's rows
    assert stored_anywhere(SECRET) == []
    assert "events" in stored_anywhere("hello")  # the scan sees into packed rows: the post is there
    assert [m["text"] for m in api.get(f"/chats/{chat_id}/messages", alice).json["items"]] == ["hello"]
    events = api.get(f"/chats/{chat_id}/events", alice, query={"after": last_event}).json["items"]
    assert [e["event_type"] for e in events] == ["MessageStored"]
    # And the gateway refused nothing
    assert "ExtensionEventRejected" not in bus.emitted_types()


def test_the_gateway_refuses_an_outsider_and_a_flood_and_records_why(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    # (the rate counts per calendar minute: run well inside one)
    if datetime.now(UTC).second >= 45:
        time.sleep(61 - datetime.now(UTC).second)
    to_carol, to_poster = whisperer(to=carol.user_id), whisperer()
    with registered(to_carol):
        # Given a chat of Alice and Bob, with Carol outside, where an extension may send 1 a minute
        chat_id = chat_with_the_whisperer(api, bus, alice, bob, extension_messages_per_minute=1)
        sockets.subscribe(sockets.open(alice, "alice-1"), chat_id)
        # When the whisperer addresses Carol
        api.send(alice, chat_id, "one")
        deliver(to_carol, bus.emitted(), **{"detail-type": "MessageStored"})
        bus.pump()
    with registered(to_poster):
        # And then answers two posts of Alice's within the minute
        for text in ("two", "three"):
            api.send(alice, chat_id, text)
        stored = [e for e in bus.emitted() if e["detail-type"] == "MessageStored"]
        deliver(to_poster, stored[-2:])
        bus.pump()

    # Then Alice got the first answer only
    assert [f["data"]["text"] for f in ephemeral_frames(sockets, "alice-1")] == [f"{SECRET} (two)"]
    # And the outsider and the flood are refused, recorded without their text
    rejected = [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == "ExtensionEventRejected"]
    assert [(r["rejected_event_type"], r["reason"].split(":")[0]) for r in rejected] == [
        ("ExtensionEphemeralRequested", "invalid_request"),
        ("ExtensionEphemeralRequested", "rate_limited"),
    ]
    assert "not a member" in rejected[0]["reason"]
    assert stored_anywhere(SECRET) == []
    # And nothing was retried into the gateway's dead-letter queue
    dlq = bus.provisioned.dlq_urls["extension_gateway"]
    assert bus.sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []


def test_the_service_drops_what_finds_no_socket_or_comes_late_and_repeats_the_same_id(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice subscribed to a chat, and Bob a member with no socket open
    extension = whisperer()
    with registered(extension):
        chat_id = chat_with_the_whisperer(api, bus, alice, bob)
    sockets.subscribe(sockets.open(alice, "alice-1"), chat_id)
    loaded = root.chat_repository().load(chat_id)
    assert loaded is not None
    service, chat, document = root.ephemeral_service(), loaded.chat, extension.manifest.document()

    # When the core sends each of them a message of its own
    waits: list[float] = []
    timed = EphemeralService(root.connections(), root.pusher, sleep=waits.append)
    to_alice = timed.send(chat, alice.user_id, "from the core")
    to_bob = timed.send(chat, bob.user_id, "from the core")
    # Then Alice's socket got it at once (sender `parley`); Bob's is dropped after looking for a
    # socket for 2 s, and nothing is kept
    assert (to_alice.delivered, to_bob.delivered) == (1, 0)
    assert sum(waits) == 2.0
    (core,) = ephemeral_frames(sockets, "alice-1")
    assert (core["data"]["sender_id"], core["data"]["sender_kind"]) == ("parley", "system")

    # When Bob subscribes while the service looks for his socket (a joiner's greeting comes first)
    def bob_subscribes(_: float) -> None:
        sockets.subscribe(sockets.open(bob, "bob-1"), chat_id)

    late_joiner = EphemeralService(root.connections(), root.pusher, sleep=bob_subscribes)
    # Then it reaches him
    assert late_joiner.send(chat, bob.user_id, "you made it").delivered == 1
    assert [f["data"]["text"] for f in ephemeral_frames(sockets, "bob-1")] == ["you made it"]

    # When an extension's request is pushed twice (a retried delivery), Then both carry the same ids
    request = new_event(
        ExtensionEphemeralRequested(
            extension_id="whisperer", request_id="req-1", participant_id=alice.user_id, text=SECRET
        ),
        chat_id=chat_id,
        actor=Actor(id="whisperer", kind="extension", name="Whisperer"),
    )
    for _ in range(2):
        assert service.from_extension(chat, request, document) is not None
    first, again = ephemeral_frames(sockets, "alice-1")[1:]
    assert first["event_id"] == again["event_id"] == first["data"]["message_id"] == "req-1"

    # When a request reaches the service more than 60 s after its cause, Then it is dropped unsent
    late = request.model_copy(
        update={
            "metadata": request.metadata.model_copy(
                update={"occurred_at": datetime.now(UTC) - timedelta(seconds=61)}
            )
        }
    )
    assert service.from_extension(chat, late, document) is None
    assert len(ephemeral_frames(sockets, "alice-1")) == 3
    assert stored_anywhere("from the core") == stored_anywhere(SECRET) == []


def test_a_shadow_installs_ephemeral_message_is_recorded_without_its_text_and_never_pushed(
    api: Api, bus: Bus, sockets: Sockets, alice: User
) -> None:
    extension = whisperer()
    with registered(extension):
        # Given the whisperer installed in shadow mode, and Alice on a socket
        chat_id = chat_with_the_whisperer(api, bus, alice)
        body = {"enabled": True, "config": {}, "shadow": True}
        assert api.put(f"/chats/{chat_id}/extensions/whisperer", alice, body=body).status == 200
        bus.pump()
        sockets.subscribe(sockets.open(alice, "alice-1"), chat_id)

        # When Alice posts and the whisperer answers her
        assert api.send(alice, chat_id, "hello").status == 201
        assert deliver(extension, bus.emitted(), **{"detail-type": "MessageStored"}) == [True]
        bus.pump()

    # Then nothing reached her socket: shadow mode applies nothing
    assert ephemeral_frames(sockets, "alice-1") == []
    # And moderators see that it would have, to whom and how long, but never the text itself
    events = api.get(f"/chats/{chat_id}/events", alice, query={"limit": 200}).json["items"]
    outputs = [e["data"] for e in events if e["metadata"]["event_type"] == "ExtensionShadowOutput"]
    assert [(o["output_type"], o["output"]["participant_id"]) for o in outputs] == [
        ("ExtensionEphemeralRequested", alice.user_id)
    ]
    assert outputs[0]["output"]["text_length"] == len(f"{SECRET} (hello)")
    assert stored_anywhere(SECRET) == []
