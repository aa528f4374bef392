"""Presence on moto: a member's first socket subscribing and last one leaving are announced, ephemerally."""

from __future__ import annotations

from typing import Any

import pytest

from parley import root
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets


@pytest.fixture
def sockets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Sockets:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    return Sockets(api, gateway)


def announced(bus: Bus, before: int) -> list[tuple[str, bool, list[str]]]:
    """(participant_id, online, online_ids) of each PresenceChanged on the bus since ``before``."""
    found = []
    for event in bus.emitted()[before:]:
        if event["detail-type"] == "PresenceChanged":
            data: dict[str, Any] = event["detail"]["data"]
            assert event["detail"]["metadata"]["sequence"] is None  # ephemeral: never in the log
            found.append((data["participant_id"], data["online"], data["online_ids"]))
    return found


def test_presence_is_announced_on_the_first_socket_in_and_the_last_one_out(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given a chat of Alice and Bob, everything so far delivered
    chat_id: str = api.create_chat(alice, turn_mode="free")["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    seen = len(bus.emitted())

    # When Alice subscribes, then Bob
    sockets.subscribe(sockets.open(alice, "alice-1"), chat_id)
    sockets.subscribe(sockets.open(bob, "bob-1"), chat_id)

    # Then each is announced once, with everyone online now
    assert announced(bus, seen) == [
        (alice.user_id, True, [alice.user_id]),
        (bob.user_id, True, sorted([alice.user_id, bob.user_id])),
    ]
    seen = len(bus.emitted())

    # When Bob opens a second tab on the chat, Then nothing is announced, and that tab alone learns who is on
    sockets.subscribe(sockets.open(bob, "bob-2"), chat_id)
    assert announced(bus, seen) == []
    assert [(f["type"], f["data"]["online_ids"]) for f in sockets.gateway.frames("bob-2")] == [
        ("PresenceChanged", sorted([alice.user_id, bob.user_id]))
    ]

    # When one of Bob's tabs closes, Then he is still online; when the other goes too, he is offline
    sockets.disconnect("bob-1")
    assert announced(bus, seen) == []
    sockets.send("bob-2", action="unsubscribe", chat_id=chat_id)
    assert announced(bus, seen) == [(bob.user_id, False, [alice.user_id])]
    seen = len(bus.emitted())

    # When Alice's socket closes, Then she is announced offline, with nobody left online
    sockets.disconnect("alice-1")
    assert announced(bus, seen) == [(alice.user_id, False, [])]

    # And the broadcaster pushes the announcements to the chat's sockets, never storing them
    bus.pump()
    assert "PresenceChanged" not in [
        i["event_type"]
        for i in api.get(f"/chats/{chat_id}/events", alice, query={"limit": 200}).json["items"]
    ]


def test_unsubscribing_from_a_chat_never_subscribed_announces_nothing(
    api: Api, bus: Bus, sockets: Sockets, alice: User
) -> None:
    # Given Alice connected but not subscribed to her chat
    chat_id: str = api.create_chat(alice, turn_mode="free")["chat_id"]
    bus.pump()
    conn = sockets.open(alice, "alice-1")
    seen = len(bus.emitted())

    # When she unsubscribes from it, and closes the socket
    sockets.send(conn, action="unsubscribe", chat_id=chat_id)
    sockets.disconnect(conn)

    # Then no presence change is announced
    assert announced(bus, seen) == []
