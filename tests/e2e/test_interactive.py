"""Interactive messages on the running local stack: a test extension (loaded as a team's would be,
with PARLEY_EXTENSIONS) posts a poll, a member votes over real HTTP and over the WebSocket, the
extension answers by updating its message, and both members' sockets get MessageUpdated."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.stack import Client, running_stack

EXTENSION = """
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Extension

POLL = {
    "type": "poll",
    "action_id": "vote",
    "question": "Lunch?",
    "options": [{"id": "pizza", "label": "Pizza"}, {"id": "sushi", "label": "Sushi"}],
}

extension = Extension(Manifest(
    id="lunchpoll", version="1.0.0", name="Lunch poll", description="Polls for lunch.",
    events=("MessageStored", "InteractionSubmitted"),
    capabilities=frozenset({"messages:write", "messages:interactive"}),
))


@extension.on("MessageStored")
def ask(event, ctx):
    if event.data.message.text == "lunch?":
        ctx.send("Lunch? Pizza or Sushi", blocks=[POLL])


@extension.on("InteractionSubmitted")
def vote(event, ctx):
    picked = event.data.values["option"]
    counted = {**POLL, "options": [{**o, "count": int(o["id"] == picked)} for o in POLL["options"]]}
    ctx.update_message(event.data.message_id, text=f"last vote: {picked}", blocks=[counted])
"""


def until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_a_vote_on_an_extensions_poll_comes_back_as_message_updated_on_every_socket(tmp_path: Path) -> None:
    (tmp_path / "lunchpoll.py").write_text(EXTENSION)
    with running_stack(extra_env={"PARLEY_EXTENSIONS": str(tmp_path / "lunchpoll.py")}) as stack:
        # Given Alice's chat with the extension, Alice and Bob subscribed on their sockets
        alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
        chat_id = alice.create_chat(title="Lunch")
        installed = alice.call(
            "PUT", f"/chats/{chat_id}/extensions/lunchpoll", {"enabled": True, "config": {}}
        )
        assert installed.status == 201, installed.json
        bob.join(chat_id)
        sockets = {"alice": alice.socket(), "bob": bob.socket()}
        for socket in sockets.values():
            assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

        # When Alice asks, the extension posts its poll (every socket sees it with its blocks)
        alice.post(chat_id, "lunch?")
        posted = sockets["bob"].wait_for(
            lambda f: f["type"] == "MessageStored" and bool(f["data"]["message"].get("blocks"))
        )
        message = posted["data"]["message"]
        assert (message["sender_id"], message["blocks_version"]) == ("ext:lunchpoll", 1)

        # And Bob votes over HTTP
        body = {"action_id": "vote", "values": {"option": "sushi"}, "client_action_id": "bob-vote-1"}
        voted = bob.call("POST", f"/chats/{chat_id}/messages/{message['message_id']}/actions", body)
        assert voted.status == 202, voted.json
        assert voted.json["replayed"] is False

        # Then both sockets get the extension's update: the new version, with the counted vote
        for socket in sockets.values():
            update = socket.wait_for(lambda f: f["type"] == "MessageUpdated", timeout=20)
            updated = update["data"]["message"]
            assert (updated["message_id"], updated["version"]) == (message["message_id"], 2)
            assert updated["text"] == "last vote: sushi"
            assert [o["count"] for o in updated["blocks"][0]["options"]] == [0, 1]
            assert update["sequence"] > posted["sequence"]

        # When Bob retries the same vote, Then he gets the same answer and nothing more happens
        again = bob.call("POST", f"/chats/{chat_id}/messages/{message['message_id']}/actions", body)
        assert again.status == 202
        assert again.json == {**voted.json, "replayed": True}

        # When Alice votes over her socket, Then the Ack names her submission and a third version follows
        ack = sockets["alice"].request(
            "Ack",
            action="submitAction",
            chat_id=chat_id,
            message_id=message["message_id"],
            action_id="vote",
            values={"option": "pizza"},
            client_action_id="alice-vote-1",
        )
        assert ack["data"]["action"] == "submitAction"
        assert ack["data"]["submission_id"]
        third = sockets["bob"].wait_for(
            lambda f: f["type"] == "MessageUpdated" and f["data"]["message"]["version"] == 3, timeout=20
        )
        assert third["data"]["message"]["text"] == "last vote: pizza"

        # And history shows the latest version with its edit marker
        def latest() -> dict[str, Any] | None:
            items = alice.call("GET", f"/chats/{chat_id}/messages").json["items"]
            found = [m for m in items if m["message_id"] == message["message_id"] and m.get("version") == 3]
            return found[0] if found else None

        shown = until(latest)
        assert shown is not None
        assert shown["text"] == "last vote: pizza"
        assert shown["edited_at"]
        for socket in sockets.values():
            socket.close()
