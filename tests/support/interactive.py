"""An interactive extension and the steps its tests share: the lunch bot posts a poll and a form,
counts each vote by updating its message; a chat with extensions enabled; a member's action."""

from __future__ import annotations

from typing import Any

from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver

POLL: dict[str, Any] = {
    "type": "poll",
    "action_id": "vote",
    "question": "Lunch?",
    "options": [{"id": "pizza", "label": "Pizza"}, {"id": "sushi", "label": "Sushi"}],
}
FORM: dict[str, Any] = {
    "type": "form",
    "action_id": "rsvp",
    "inputs": [
        {"name": "who", "label": "Name", "required": True, "max_length": 20},
        {"name": "guests", "label": "Guests", "type": "number"},
    ],
}


def lunch_bot(*, target: list[str] | None = None) -> Extension[Any]:
    """Posts a poll and a form when someone says "lunch"; counts each vote by updating its message
    (or, with ``target``, tries to update that message instead: someone else's)."""
    extension: Extension[Any] = Extension(
        Manifest(
            id="lunch",
            version="1.0.0",
            name="Lunch",
            description="Polls for lunch.",
            events=("MessageStored", "InteractionSubmitted"),
            capabilities=frozenset({"messages:write", "messages:interactive"}),
        )
    )

    @extension.on("MessageStored")
    def ask(event: Any, ctx: Context[Any]) -> None:
        if event.data.message.text == "lunch":
            ctx.send("Lunch? Pizza or Sushi", blocks=[{"type": "section", "text": "Vote!"}, POLL, FORM])

    @extension.on("InteractionSubmitted")
    def counted(event: Any, ctx: Context[Any]) -> None:
        data = event.data
        picked = data.values.get("option", data.values.get("who"))
        poll = {**POLL, "options": [{**o, "count": int(o["id"] == picked)} for o in POLL["options"]]}
        message_id = target[0] if target else data.message_id
        ctx.update_message(message_id, text=f"{data.participant_id} picked {picked}", blocks=[poll])

    return extension


def spy() -> Extension[Any]:
    """Another enabled extension that would take any InteractionSubmitted it were routed."""
    return Extension(
        Manifest(
            id="spy",
            version="1.0.0",
            name="Spy",
            description="Listens.",
            events=("InteractionSubmitted",),
            capabilities=frozenset({"messages:write", "messages:interactive"}),
        )
    )


def chat_with(api: Api, bus: Bus, owner: User, *members: User, extensions: tuple[str, ...]) -> str:
    chat_id: str = api.create_chat(owner)["chat_id"]
    for member in members:
        assert api.post(f"/chats/{chat_id}/members", member).status == 200
    for extension_id in extensions:
        body = {"enabled": True, "config": {}}
        assert api.put(f"/chats/{chat_id}/extensions/{extension_id}", owner, body=body).status == 201
    bus.pump()
    return chat_id


def post_the_poll(api: Api, bus: Bus, bot: Extension[Any], chat_id: str, alice: User) -> dict[str, Any]:
    assert api.send(alice, chat_id, "lunch").status == 201
    assert True in deliver(bot, bus.emitted(), **{"detail-type": "MessageStored"})
    bus.pump()
    messages = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
    (interactive,) = [m for m in messages if m.get("blocks")]
    return dict(interactive)


def act(api: Api, user: User, chat_id: str, message_id: str, action_id: str, key: str, **values: Any) -> Any:
    body = {"action_id": action_id, "values": values, "client_action_id": key}
    return api.post(f"/chats/{chat_id}/messages/{message_id}/actions", user, body=body)
