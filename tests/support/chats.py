"""Chats set up over the API for a test to start from."""

from __future__ import annotations

from tests.support.api import Api, User
from tests.support.bus import Bus


def chat_of(api: Api, bus: Bus, owner: User, *members: User, turn_mode: str = "free") -> str:
    """A chat whose creation and joins have all been delivered (so later frames are only what follows)."""
    chat_id: str = api.create_chat(owner, turn_mode=turn_mode)["chat_id"]
    for member in members:
        assert api.post(f"/chats/{chat_id}/members", member).status == 200
    bus.pump()
    return chat_id
