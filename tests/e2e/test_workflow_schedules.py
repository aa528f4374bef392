"""A scheduled workflow on the running local stack: its tick runs on the local clock, which the test moves
forward (``POST /local/clock``) instead of waiting for the next minute; the slot runs once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.stack import Client

EVERY_MINUTE = {
    "id": "minutely",
    "trigger": {"schedule": {"every_minutes": 1}},
    "steps": [{"do": "post", "text": "Tick {schedule.at} in {chat.title}."}],
}


def test_a_scheduled_workflow_runs_once_when_the_local_clock_reaches_its_slot(stack: str) -> None:
    # Given Alice's chat with a workflow that runs every minute, and her socket on it
    alice = Client.sign_in(stack, "Alice")
    chat_id = alice.create_chat(title="Ops")
    response = alice.call(
        "PUT",
        f"/chats/{chat_id}/extensions/workflows",
        {"enabled": True, "config": {"workflows": [EVERY_MINUTE]}},
    )
    assert response.status == 201, response.json
    socket = alice.socket()
    assert socket.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When the local clock moves two minutes on (the save's life-cycle event reached the extension first)
    def bot(frame: dict[str, Any]) -> bool:
        return bool(
            frame["type"] == "MessageStored" and frame["data"]["message"]["sender_id"] == "ext:workflows"
        )

    socket.drain(quiet=1.0)
    moved = alice.call("POST", "/local/clock", {"advance_seconds": 120}, auth=False)
    assert moved.status == 200, moved.json
    now = datetime.fromisoformat(moved.json["now"])

    # Then the workflow posts once for the minute the clock is in, and its run is recorded
    said = socket.wait_for(bot, timeout=20)
    slot = said["data"]["message"]["text"]
    assert slot in {f"Tick {t:%H:%M} in Ops." for t in (now, now + timedelta(minutes=1))}
    socket.wait_for(
        lambda f: f["type"] == "WorkflowRun" and f["data"]["workflow_id"] == "minutely", timeout=20
    )
    # and the ticks that follow within that minute post nothing more for it
    again = [f for f in socket.drain(quiet=6.0) if bot(f) and f["data"]["message"]["text"] == slot]
    assert again == []
    socket.close()
