"""Read filters on the local stack: the shipped spoilers extension masks a spoiler for the member who
opted in, live on his socket and in his history, while the others read it whole."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Client

SPOILER = "Dune: ||Paul becomes emperor|| at the end"
MASKED = "Dune: [spoiler] at the end"


def is_message(frame: dict[str, Any]) -> bool:
    return bool(frame["type"] == "MessageStored")


def seen(frame_or_item: dict[str, Any]) -> tuple[str, str | None]:
    message = frame_or_item["data"]["message"] if "data" in frame_or_item else frame_or_item
    return message["text"], message.get("filtered")


def test_spoilers_masks_a_spoiler_for_the_member_who_opted_in(stack: str) -> None:
    # Given Alice's chat with Bob and Carol, the spoilers extension enabled, Bob opted in
    alice, bob, carol = (Client.sign_in(stack, n) for n in ("Alice", "Bob", "Carol"))
    chat_id = alice.create_chat(title="Book club")
    bob.join(chat_id)
    carol.join(chat_id)
    listed = alice.call("GET", "/extensions").json["items"]
    assert "messages:filter" in next(e for e in listed if e["id"] == "spoilers")["capabilities"]
    response = alice.call(
        "PUT",
        f"/chats/{chat_id}/extensions/spoilers",
        {"enabled": True, "config": {"hide_for": [bob.user_id]}},
    )
    assert response.status == 201, response.json
    sockets = {c.name: c.socket() for c in (alice, bob, carol)}
    for socket in sockets.values():
        assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When Alice posts a spoiler
    alice.post(chat_id, SPOILER)

    # Then Bob's socket gets it masked, Carol's whole (and Alice's, the sender's)
    assert seen(sockets["Bob"].wait_for(is_message, timeout=15)) == (MASKED, "rewritten")
    assert seen(sockets["Carol"].wait_for(is_message, timeout=15)) == (SPOILER, None)
    assert seen(sockets["Alice"].wait_for(is_message, timeout=15)) == (SPOILER, None)

    # And so do their histories and event logs
    def history(client: Client) -> list[tuple[str, str | None]]:
        return [seen(m) for m in client.call("GET", f"/chats/{chat_id}/messages").json["items"]]

    def logged(client: Client) -> list[tuple[str, str | None]]:
        items = client.call("GET", f"/chats/{chat_id}/events").json["items"]
        return [seen(i) for i in items if i["event_type"] == "MessageStored"]

    assert history(bob) == logged(bob) == [(MASKED, "rewritten")]
    assert history(carol) == logged(carol) == [(SPOILER, None)]
    for socket in sockets.values():
        socket.close()
