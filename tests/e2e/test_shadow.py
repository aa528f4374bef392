"""Shadow mode on the running local stack: a moderator tries a stricter moderation config beside the
live one, sees its rulings pushed to her socket (never to members), then switches it on."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Client


def test_a_moderator_compares_a_shadow_moderation_config_then_switches_it_on(stack: str) -> None:
    # Given Alice's chat with moderation live and a stricter config in shadow, both subscribed
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Spoiler-free")
    bob.join(chat_id)
    stricter = {"blocked_terms": ["spoiler", "ending"], "action": "reject"}
    response = alice.call(
        "PUT",
        f"/chats/{chat_id}/extensions/moderation",
        {"enabled": True, "config": {"blocked_terms": ["spoiler"]}, "shadow_config": stricter},
    )
    assert response.status == 201, response.json
    mine, theirs = alice.socket(), bob.socket()
    for socket in (mine, theirs):
        assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When Bob posts what only the shadow config would block
    bob.post(chat_id, "The ending was great")

    # Then it is stored (the live config decided), and the shadow ruling is pushed to Alice only
    def shadow_output(frame: dict[str, Any]) -> bool:
        return bool(frame["type"] == "ExtensionShadowOutput")

    pushed = mine.wait_for(shadow_output, timeout=15)
    assert pushed["data"]["config"] == "shadow_config"
    assert pushed["data"]["output"]["action"] == "reject"
    theirs.wait_for(lambda f: f["type"] == "MessageStored", timeout=15)
    assert not [f for f in theirs.drain() if shadow_output(f)]

    # When Alice switches the stricter config on
    response = alice.call(
        "PUT", f"/chats/{chat_id}/extensions/moderation", {"enabled": True, "config": stricter}
    )
    assert response.status == 200, response.json

    # Then it decides from now on
    refused = bob.call("POST", f"/chats/{chat_id}/messages", {"text": "No ending talk"})
    assert refused.status == 422
    assert refused.json["error"]["code"] == "message_rejected"
    mine.close()
    theirs.close()
