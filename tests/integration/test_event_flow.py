"""Exactly which events a flow emits, seen by a catch-all sink rule, with their correlation ids."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, User
from tests.support.bus import Bus


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["detail-type"], e["detail"]["metadata"]["correlation_id"]) for e in events]


def test_a_free_chat_flow_emits_exactly_these_events(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # When Alice creates a free chat, Bob joins and posts, each request with its own correlation id
    created = api.post(
        "/chats",
        alice,
        body={"title": "Lunch", "turn_mode": "free"},
        headers={"x-correlation-id": "corr-create"},
    )
    chat_id = created.json["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob, headers={"x-correlation-id": "corr-join"})
    api.post(
        f"/chats/{chat_id}/messages", bob, body={"text": "hi"}, headers={"x-correlation-id": "corr-post"}
    )
    bus.pump()

    # Then exactly these events were emitted (a free chat never invokes the turns handler)
    emitted = bus.emitted()
    assert summary(emitted) == [
        ("ChatCreated", "corr-create"),
        ("UserJoined", "corr-create"),
        ("ExtensionInstalled", "corr-create"),  # analytics, installed on every new chat
        ("ExtensionActivated", "corr-create"),
        ("UserJoined", "corr-join"),
        ("MessageStored", "corr-post"),
    ]
    # and each carries the chat, its event-log sequence, the actor, and source parley.core
    assert [e["detail"]["metadata"]["sequence"] for e in emitted] == [1, 2, 3, 4, 5, 6]
    assert {e["source"] for e in emitted} == {"parley.core"}
    assert {e["detail"]["metadata"]["chat_id"] for e in emitted} == {chat_id}
    assert emitted[5]["detail"]["metadata"]["actor"] == {"id": bob.user_id, "kind": "user", "name": "Bob"}
    assert emitted[5]["detail"]["data"]["message"]["sequence"] == 1


def test_a_round_robin_flow_emits_turn_changes_in_the_posts_correlation(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # When Alice creates a round-robin chat, Bob joins, Alice posts, then Bob posts
    chat_id = api.post(
        "/chats",
        alice,
        body={"title": "Debate", "turn_mode": "round_robin"},
        headers={"x-correlation-id": "c1"},
    ).json["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob, headers={"x-correlation-id": "c2"})
    bus.pump()
    api.post(f"/chats/{chat_id}/messages", alice, body={"text": "first"}, headers={"x-correlation-id": "c3"})
    bus.pump()
    api.post(f"/chats/{chat_id}/messages", bob, body={"text": "second"}, headers={"x-correlation-id": "c4"})
    bus.pump()

    # Then the turn changes belong to the flows of the posts that caused them
    assert summary(bus.emitted()) == [
        ("ChatCreated", "c1"),
        ("UserJoined", "c1"),
        ("TurnChanged", "c1"),
        ("ExtensionInstalled", "c1"),  # analytics, installed on every new chat
        ("ExtensionActivated", "c1"),
        ("UserJoined", "c2"),
        ("MessageStored", "c3"),
        ("TurnChanged", "c3"),
        ("MessageStored", "c4"),
        ("TurnChanged", "c4"),
    ]
    turns = [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == "TurnChanged"]
    assert [(t["holder_id"], t["reason"], t["turn_number"]) for t in turns] == [
        (alice.user_id, "started", 1),
        (bob.user_id, "message", 2),
        (alice.user_id, "message", 3),
    ]
    # and the chat's event log holds the same events, in the same order, numbered without gaps
    log = api.get(f"/chats/{chat_id}/events", alice).json["items"]
    assert [i["event_type"] for i in log] == [t for t, _ in summary(bus.emitted())]
    assert [i["sequence"] for i in log] == list(range(1, 11))
