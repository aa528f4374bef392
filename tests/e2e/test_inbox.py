"""The inbox on the running local stack: unread counts and the latest message in GET /chats, carried by
the chat head each post writes; marking read tells the reader's own sockets and nobody else's."""

from __future__ import annotations

import time
from typing import Any

from tests.support.stack import Client


def _entry(client: Client, chat_id: str) -> dict[str, Any]:
    listed = client.call("GET", "/chats?limit=200")
    assert listed.status == 200, listed.json
    return next(c for c in listed.json["items"] if c["chat_id"] == chat_id)


def _eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_unread_counts_and_read_markers_over_http_and_sockets(stack: str) -> None:
    # Given Bob in Alice's chat, both subscribed on a socket, and two messages from Alice
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Inbox")
    bob.join(chat_id)
    sockets = {"alice": alice.socket(), "bob": bob.socket()}
    for socket in sockets.values():
        assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"
    alice.post(chat_id, "first")
    alice.post(chat_id, "second")

    # Then Bob's chat list counts two unread, with the latest message
    entry = _eventually(lambda: (e := _entry(bob, chat_id))["unread"] == 2 and e)
    assert entry, _entry(bob, chat_id)
    assert entry["last_message"]["text"] == "second"
    assert entry["last_message"]["sender_name"] == "Alice"
    assert _entry(alice, chat_id)["unread"] == 0

    # When Bob marks the chat read
    marked = bob.call("POST", f"/chats/{chat_id}/read", {"sequence": 2})
    assert marked.status == 200, marked.json
    assert marked.json == {"chat_id": chat_id, "last_read_sequence": 2, "unread": 0, "moved": True}

    # Then his socket gets ReadMarkerMoved, Alice's does not, and his list shows nothing unread
    frame = sockets["bob"].wait_for(lambda f: f["type"] == "ReadMarkerMoved")
    assert frame["data"] == {"user_id": bob.user_id, "last_read_sequence": 2, "unread": 0}
    assert not [f for f in sockets["alice"].drain() if f["type"] == "ReadMarkerMoved"]
    assert _entry(bob, chat_id)["unread"] == 0
    for socket in sockets.values():
        socket.close()
