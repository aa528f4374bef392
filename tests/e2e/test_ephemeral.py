"""Ephemeral messages on the running local stack: the welcome bot set to `private` greets the joiner
on the joiner's socket alone; the other member never gets it, and no history or event log has it."""

from __future__ import annotations

from tests.support.stack import Client

GREETING = "Psst {name}, only you can read this"


def test_a_private_welcome_reaches_the_joiner_alone_and_is_never_stored(stack: str) -> None:
    # Given Alice's chat with the welcome bot greeting in private, and Alice subscribed to it
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Private welcome")
    body = {"enabled": True, "config": {"template": GREETING, "private": True}}
    installed = alice.call("PUT", f"/chats/{chat_id}/extensions/welcome", body)
    assert installed.status in (200, 201), installed.json
    sockets = {"alice": alice.socket(), "bob": bob.socket()}
    assert sockets["alice"].request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When Bob joins and subscribes at once (his socket was open already)
    bob.join(chat_id)
    assert sockets["bob"].request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # Then Bob's socket gets the greeting, for him, marked ephemeral and without a sequence
    frame = sockets["bob"].wait_for(lambda f: f["type"] == "EphemeralMessage")
    assert frame["ephemeral"] is True
    assert "sequence" not in frame
    assert frame["data"]["text"] == GREETING.replace("{name}", "Bob")
    assert (frame["data"]["participant_id"], frame["data"]["extension_id"]) == (bob.user_id, "welcome")

    # And Alice, who sees Bob join and what he says next, never gets it
    bob.post(chat_id, "hello")
    sockets["alice"].wait_for(
        lambda f: f["type"] == "MessageStored" and f["data"]["message"]["text"] == "hello"
    )
    alice_frames = sockets["alice"].drain()
    assert not [f for f in alice_frames if f["type"] == "EphemeralMessage"]
    assert "Psst Bob" not in str(alice_frames)

    # And neither the history nor the event log has it, for anyone (the log has the template, as
    # the install's config, never the greeting)
    for reader in (alice, bob):
        messages = reader.call("GET", f"/chats/{chat_id}/messages")
        assert [m["text"] for m in messages.json["items"]] == ["hello"]
        events = reader.call("GET", f"/chats/{chat_id}/events?limit=200")
        assert "Psst Bob" not in str(events.json)
        assert "EphemeralMessage" not in str(events.json)
    for socket in sockets.values():
        socket.close()
