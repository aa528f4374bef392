"""A workflow definition and a chat world on in-memory ports, shared by the workflow tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley.adapters.memory import InMemoryPublisher, InMemoryStore
from parley.catalog import (
    CORE_SOURCE,
    Actor,
    Envelope,
    ParticipantView,
    UserJoined,
    WorkflowRunReported,
    new_event,
)
from parley.domain import extensions as installs
from parley.domain.model import Chat
from parley.extensions.sdk import Extension, Runtime
from tests.unit.chats import OWNER, at, new_chat, with_members


def workflow(
    event: str | None = "UserJoined", *steps: Any, conditions: Any = (), **extra: Any
) -> dict[str, Any]:
    return {
        "id": extra.pop("id", "w1"),
        "trigger": {"event": event, "conditions": list(conditions)},
        "steps": list(steps) or [{"do": "post", "text": "Hi {actor.name}"}],
        **extra,
    }


class World:
    """One chat with Bob as a member and the given extensions installed with their configs."""

    def __init__(self, configs: Mapping[str, dict[str, Any]], *extensions: Extension[Any]) -> None:
        chat = with_members(new_chat("free"), "user-bob")
        for extension_id, config in configs.items():
            chat = installs.put_install(
                chat,
                user_id=OWNER,
                extension_id=extension_id,
                version="1",
                enabled=True,
                config=config,
                now=at(1),
            ).chat
        self.chat = chat
        self.bus = InMemoryPublisher()
        self.stores: dict[tuple[str, str], InMemoryStore] = {}
        documents = {e.id: e.manifest.document() for e in extensions}
        self.runtime = Runtime(
            load_chat=lambda chat_id: self.chat,
            registry=lambda: documents,
            publish=self.bus.publish,
            state=lambda ext, chat_id: self.stores.setdefault((ext, chat_id), InMemoryStore()),
        )
        for extension in extensions:
            extension.use(self.runtime)


def joined(chat: Chat, name: str = "Bob", kind: str = "human", sequence: int = 9) -> dict[str, Any]:
    participant = ParticipantView(id=f"user-{name.lower()}", name=name, kind=kind, role="member")
    data = UserJoined(participant=participant, turn_mode="free")
    envelope = new_event(data, chat_id=chat.chat_id, actor=Actor(id=participant.id, kind="user", name=name))
    return {
        "source": CORE_SOURCE,
        "detail-type": "UserJoined",
        "detail": envelope.with_sequence(sequence).to_detail(),
    }


def runs(outputs: list[Envelope[Any]]) -> list[WorkflowRunReported]:
    return [o.data for o in outputs if isinstance(o.data, WorkflowRunReported)]
