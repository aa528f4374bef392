"""Run an extension's handlers on in-memory fakes: no AWS, no moto, no local stack.

    from parley_kit.testing import Harness

    def test_it_greets_a_joiner() -> None:
        harness = Harness(extension, config={"greeting": "Hi {name}!"})
        harness.join("user-bob", "Bob")
        assert harness.posted() == ["Hi Bob!"]  # a message everyone sees
        assert harness.ephemeral() == []  # (participant_id, text) only that member sees

A ``Harness`` is one chat where the extension is installed and enabled. It drives the SDK exactly as
the deployed handler does (``Extension.deliver``: source checks, the delivery claim, the staged store
committed with the outputs), on the SDK's own in-memory ports: ``parley.adapters.memory``'s store
(which encodes values as DynamoDB's does) and publisher. The pytest plugin (``parley_kit.pytest_plugin``,
registered by the distribution's ``pytest11`` entry point) hands it out as the ``parley_harness``
fixture.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from parley.adapters.memory import InMemoryPublisher, InMemoryStore
from parley.catalog import (
    CORE_SOURCE,
    Actor,
    Envelope,
    EventData,
    ExtensionEvent,
    MessageStored,
    MessageView,
    new_event,
)
from parley.domain import commands
from parley.domain import extensions as installs
from parley.domain.model import Chat, ChatSettings
from parley.extensions.manifest import ExtensionDocument, Manifest
from parley.extensions.sdk import Extension, Runtime
from parley.extensions.store import StagedStore

OWNER = ("user-owner", "Owner")


class Harness:
    """One chat with the extension enabled on it, and what the extension did there."""

    def __init__(
        self,
        extension: Extension[Any],
        *,
        config: Mapping[str, Any] | None = None,
        turn_mode: str = "free",
        others: tuple[Manifest, ...] = (),
        handler_timeout_seconds: float = 5.0,
    ) -> None:
        self.extension = extension
        self.bus = InMemoryPublisher()
        self.stores: dict[str, InMemoryStore] = {}
        now = datetime.now(UTC)
        chat = commands.create_chat(
            chat_id="chat-1",
            creator_id=OWNER[0],
            creator_name=OWNER[1],
            title="Test chat",
            turn_mode=turn_mode,  # type: ignore[arg-type]
            ai_participants=[],
            settings=ChatSettings(),
            now=now,
        ).chat
        self.chat: Chat = installs.put_install(
            chat,
            user_id=OWNER[0],
            extension_id=extension.id,
            version=extension.manifest.version,
            enabled=True,
            config=dict(config or {}),
            now=now,
        ).chat
        self._documents: dict[str, ExtensionDocument] = {
            m.id: m.document() for m in (extension.manifest, *others)
        }
        self._sequence = itertools.count(self.chat.extensions[extension.id].active_since + 1)
        self._previous = extension._runtime
        self.last: Envelope[Any] | None = None
        """The envelope delivered last (deliver it again to see a retry or a duplicate)."""
        extension.use(
            Runtime(
                load_chat=lambda chat_id: self.chat if chat_id == self.chat.chat_id else None,
                registry=lambda: self._documents,
                publish=self.bus.publish,
                state=lambda _, chat_id: self.stores.setdefault(chat_id, InMemoryStore()),
                handler_timeout_seconds=handler_timeout_seconds,
            )
        )

    def close(self) -> None:
        """Give the extension back the ports it had (the fixture does this after each test)."""
        self.extension._runtime = self._previous

    # -- what happens in the chat ---------------------------------------------------------------

    def deliver(self, data: EventData, *, actor: Actor | None = None, source: str = CORE_SOURCE) -> bool:
        """Deliver one event of this chat, next in sequence; True if a handler ran. A handler's
        exception propagates (as the queue would retry it)."""
        envelope = new_event(
            data, chat_id=self.chat.chat_id, actor=actor or Actor(id="parley", kind="system")
        )
        return self.deliver_envelope(envelope.with_sequence(next(self._sequence)), source=source)

    def deliver_envelope(self, envelope: Envelope[Any], *, source: str = CORE_SOURCE) -> bool:
        """Deliver an envelope as built; ``harness.last`` again is the queue's retry or a duplicate."""
        self.last = envelope
        event = {"source": source, "detail-type": envelope.event_type, "detail": envelope.to_detail()}
        return self.extension.deliver(event)

    def join(self, user_id: str, name: str) -> bool:
        """``user_id`` joins the chat (UserJoined)."""
        outcome = commands.join(self.chat, user_id=user_id, name=name, now=datetime.now(UTC))
        self.chat = outcome.chat
        return self.deliver(outcome.events[0], actor=Actor(id=user_id, kind="user", name=name))

    def post(self, user_id: str, text: str, *, name: str | None = None) -> bool:
        """A member's message was stored (MessageStored)."""
        sequence = next(self._sequence)
        message = MessageView(
            message_id=f"m-{sequence}",
            chat_id=self.chat.chat_id,
            sequence=sequence,
            sender_id=user_id,
            sender_name=name or user_id,
            sender_kind="human",
            text=text,
            created_at=datetime.now(UTC),
        )
        data = MessageStored(message=message, turn_mode=self.chat.turn_mode, turn_number=0)
        envelope = new_event(data, chat_id=self.chat.chat_id, actor=Actor(id=user_id, kind="user"))
        return self.deliver_envelope(envelope.with_sequence(sequence))

    def receive(self, sender: Manifest, name: str, payload: Mapping[str, Any] | None = None) -> bool:
        """Another extension (given with ``others=``, enabled here) emitted ``name``."""
        if sender.id not in self.chat.extensions:
            self.chat = installs.put_install(
                self.chat,
                user_id=OWNER[0],
                extension_id=sender.id,
                version=sender.version,
                enabled=True,
                config={},
                now=datetime.now(UTC),
            ).chat
        data = ExtensionEvent(extension_id=sender.id, name=name, payload=dict(payload or {}))
        actor = Actor(id=sender.id, kind="extension", name=sender.name)
        return self.deliver(data, actor=actor, source=f"parley.ext.{sender.id}")

    # -- what the extension did -----------------------------------------------------------------

    def posted(self) -> list[str]:
        """Texts the extension posted, in order."""
        return [e.data.text for e in self.bus.published if e.event_type == "ExtensionMessageRequested"]

    def ephemeral(self) -> list[tuple[str, str]]:
        """Its ephemeral messages, (participant_id, text), in order: each for that member's eyes only."""
        return [
            (e.data.participant_id, e.data.text)
            for e in self.bus.published
            if e.event_type == "ExtensionEphemeralRequested"
        ]

    def emitted(self) -> list[tuple[str, dict[str, Any]]]:
        """Its own events, (name, payload), in order."""
        return [(e.data.name, e.data.payload) for e in self.bus.published if e.event_type == "ExtensionEvent"]

    def published(self) -> list[str]:
        """Every event type it published, health reports (ExtensionFailed...) included."""
        return self.bus.types()

    @property
    def store(self) -> StagedStore:
        """The chat's committed state, read as a handler reads it."""
        return StagedStore(self.stores.setdefault(self.chat.chat_id, InMemoryStore()))
