"""Workflow steps that change the chat, on the running local stack: a refused `give_floor` is reported
in the run, `change_setting` moderates the chat, then `give_floor` hands a newcomer the floor; every
member's socket sees the settings and the floor move, the moderator's the runs."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Client

FLOOR = {"id": "floor", "trigger": {"event": "UserJoined"}, "steps": [{"do": "give_floor"}]}
ORDER = {
    "id": "order",
    "trigger": {
        "event": "MessageStored",
        "conditions": [{"var": "message.text", "op": "contains", "value": "order"}],
    },
    "steps": [{"do": "change_setting", "settings": {"turn_mode": "moderated"}}],
}


def test_a_workflow_moderates_the_chat_then_gives_a_newcomer_the_floor(stack: str) -> None:
    # Given Alice's free chat with both workflows, Alice subscribed
    alice, bob, carol = (Client.sign_in(stack, name) for name in ("Alice", "Bob", "Carol"))
    chat_id = alice.create_chat(title="Standup")
    body = {"enabled": True, "config": {"workflows": [FLOOR, ORDER]}}
    assert alice.call("PUT", f"/chats/{chat_id}/extensions/workflows", body).status == 201
    mine = alice.socket()
    assert mine.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    def run_of(workflow_id: str) -> Any:
        return mine.wait_for(
            lambda f: f["type"] == "WorkflowRun" and f["data"]["workflow_id"] == workflow_id, timeout=20
        )

    # When Bob joins the free chat, Then the floor step is refused, saying why
    bob.join(chat_id)
    [step] = run_of("floor")["data"]["steps"]
    assert (step["do"], step["outcome"]) == ("give_floor", "refused")
    assert "moderated chats" in step["reason"]

    # When Bob asks for order, Then the workflows bot moderates the chat
    bob.post(chat_id, "order please")
    changed = mine.wait_for(lambda f: f["type"] == "ChatSettingsChanged", timeout=20)
    assert (changed["data"]["changed_by"], changed["data"]["turn_mode"]) == ("ext:workflows", "moderated")

    # When Carol joins the now moderated chat, Then she is given the floor
    carol.join(chat_id)
    granted = mine.wait_for(
        lambda f: f["type"] == "TurnChanged" and f["data"]["reason"] == "granted", timeout=20
    )
    assert granted["data"]["holder_id"] == carol.user_id
    assert alice.call("GET", f"/chats/{chat_id}").json["turn"]["holder_id"] == carol.user_id
    mine.close()
