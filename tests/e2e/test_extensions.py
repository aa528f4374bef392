"""The issue's acceptance on the local stack: a moderator enables welcome and moderation from the
API, a joiner is welcomed (pushed live), a blocked term is refused with a clear message."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Client


def test_a_moderator_enables_welcome_and_moderation_over_http(stack: str) -> None:
    # Given Alice's chat and her subscribed socket
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Book club")
    socket = alice.socket()
    assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When she lists the extensions and enables welcome and moderation on her chat
    listed = alice.call("GET", "/extensions")
    assert listed.status == 200
    assert {"welcome", "moderation"} <= {e["id"] for e in listed.json["items"]}
    for extension_id, config in {
        "welcome": {"template": "Welcome {name}! We are reading Dune."},
        "moderation": {"blocked_terms": ["spoiler"], "action": "reject"},
    }.items():
        response = alice.call(
            "PUT", f"/chats/{chat_id}/extensions/{extension_id}", {"enabled": True, "config": config}
        )
        assert response.status == 201, response.json

    # Then Bob's joining is greeted by the bot, live on Alice's socket
    bob.join(chat_id)

    def greeting(frame: dict[str, Any]) -> bool:
        return bool(
            frame["type"] == "MessageStored" and frame["data"]["message"]["sender_kind"] == "extension"
        )

    pushed = socket.wait_for(greeting, timeout=15)
    assert pushed["data"]["message"]["text"] == "Welcome Bob! We are reading Dune."
    assert pushed["data"]["message"]["sender_name"] == "Welcome bot"

    # And Bob's message with a blocked term is refused with a clear 422, and never shown
    refused = bob.call("POST", f"/chats/{chat_id}/messages", {"text": "Big SPOILER: Paul wins"})
    assert refused.status == 422
    assert refused.json["error"]["code"] == "message_rejected"
    assert (
        refused.json["error"]["message"]
        == 'Moderation rejected the message: the message contains a blocked term: "spoiler"'
    )
    fine = bob.post(chat_id, "No spoilers from me")
    texts = [m["text"] for m in bob.call("GET", f"/chats/{chat_id}/messages").json["items"]]
    assert texts == ["Welcome Bob! We are reading Dune.", fine["text"]]
    socket.close()
