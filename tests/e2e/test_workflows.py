"""Workflows on the running local stack: a moderator saves one, a member's message triggers it, the
bot answers everyone, and the run is pushed to the moderator's socket only (members get a marker)."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Client

HELP = {
    "id": "help",
    "trigger": {
        "event": "MessageStored",
        "conditions": [{"var": "message.text", "op": "contains", "value": "help"}],
    },
    "steps": [{"do": "post", "text": "{actor.name} asked for help in {chat.title}."}],
}


def test_a_workflow_answers_a_trigger_and_its_run_reaches_moderators_only(stack: str) -> None:
    # Given Alice's chat with a workflow, Bob a member, both subscribed
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Support")
    bob.join(chat_id)
    assert bob.call("GET", "/workflows/schema", auth=False).status == 200
    response = alice.call(
        "PUT", f"/chats/{chat_id}/extensions/workflows", {"enabled": True, "config": {"workflows": [HELP]}}
    )
    assert response.status == 201, response.json
    mine, theirs = alice.socket(), bob.socket()
    for socket in (mine, theirs):
        assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When Bob asks for help
    bob.post(chat_id, "Help, please")

    # Then everyone gets the bot's answer
    def answer(frame: dict[str, Any]) -> bool:
        return bool(
            frame["type"] == "MessageStored" and frame["data"]["message"]["sender_id"] == "ext:workflows"
        )

    said = theirs.wait_for(answer, timeout=20)
    assert said["data"]["message"]["text"] == "Bob asked for help in Support."
    # and the run is pushed to Alice, the owner, only
    run = mine.wait_for(lambda f: f["type"] == "WorkflowRun", timeout=20)
    assert run["data"]["workflow_id"] == "help"
    assert [s["outcome"] for s in run["data"]["steps"]] == ["ok"]
    theirs.wait_for(lambda f: f["type"] == "Withheld" and f["sequence"] == run["sequence"], timeout=20)
    assert not [f for f in theirs.drain() if f["type"] == "WorkflowRun"]
    mine.close()
    theirs.close()
