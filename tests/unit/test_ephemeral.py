"""Ephemeral messages without AWS: the capability, the checks on the addressee and the text, the SDK's
output (routed to no extension, never recorded), the welcome extension's `private` option, and the
frame a client gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from parley.catalog import Actor, Envelope, ExtensionEphemeralRequested, UserJoined, new_event
from parley.domain import commands
from parley.domain.ephemeral import ephemeral_message, expired
from parley.domain.model import Chat, ChatSettings
from parley.errors import ChatCompletedError, InvalidRequestError, PublishError
from parley.extensions.builtin import welcome
from parley.extensions.manifest import ExtensionDocument, Manifest, subscribed
from parley.extensions.policy import refusal
from parley.extensions.sdk import CapabilityError, Context, Extension
from parley.realtime.frames import frame_of
from parley.routing import extension_route
from parley_kit.pytest_plugin import HarnessFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def chat_of_alice_and_bob(**settings: Any) -> Chat:
    chat = commands.create_chat(
        chat_id="chat-1",
        creator_id="user-alice",
        creator_name="Alice",
        title="t",
        turn_mode="free",
        ai_participants=[],
        settings=ChatSettings(**settings),
        now=NOW,
    ).chat
    return commands.join(chat, user_id="user-bob", name="Bob", now=NOW).chat


def whisperer(*, capable: bool = True, idempotent: bool = False) -> Extension[Any]:
    """Answers every post with a message for its poster alone, and one for everyone."""
    extension: Extension[Any] = Extension(
        Manifest(
            id="whisperer",
            version="1.0.0",
            name="Whisperer",
            description="Whispers back.",
            events=("MessageStored",),
            capabilities=frozenset({"messages:write", *(["messages:ephemeral"] if capable else [])}),
            idempotent=idempotent,
        )
    )

    @extension.on("MessageStored")
    def answer(event: Envelope[Any], ctx: Context[Any]) -> None:
        ctx.send_ephemeral(event.data.message.sender_id, f"psst {event.data.message.text}")
        if not idempotent:
            ctx.post_message("said aloud")

    return extension


# -- the rules ---------------------------------------------------------------------------------------


def test_an_ephemeral_message_goes_only_to_a_human_member_with_a_bounded_text() -> None:
    chat = chat_of_alice_and_bob(max_message_length=10)
    sent = ephemeral_message(
        chat, participant_id="user-bob", text="hi", message_id="m-1", extension=("welcome", "Welcome bot")
    )
    assert (sent.participant_id, sent.sender_id, sent.sender_name, sent.sender_kind, sent.extension_id) == (
        "user-bob",
        "ext:welcome",
        "Welcome bot",
        "extension",
        "welcome",
    )
    core = ephemeral_message(chat, participant_id="user-alice", text="hi", message_id="m-2")
    assert (core.sender_id, core.sender_kind, core.extension_id) == ("parley", "system", None)
    for participant_id, text in (("user-carol", "hi"), ("user-bob", "   "), ("user-bob", "x" * 11)):
        with pytest.raises(InvalidRequestError):
            ephemeral_message(chat, participant_id=participant_id, text=text, message_id="m")
    closed = chat.model_copy(update={"status": "completed"})
    with pytest.raises(ChatCompletedError):
        ephemeral_message(closed, participant_id="user-bob", text="hi", message_id="m")


def test_a_late_request_is_expired() -> None:
    assert not expired(NOW, NOW + timedelta(seconds=60), max_age_seconds=60)
    assert expired(NOW, NOW + timedelta(seconds=61), max_age_seconds=60)


def test_the_gateway_refuses_a_request_without_the_capability() -> None:
    chat = chat_of_alice_and_bob()
    request = ExtensionEphemeralRequested(
        extension_id="whisperer", request_id="r", participant_id="user-bob", text="hi"
    )
    envelope = new_event(request, chat_id=chat.chat_id, actor=Actor(id="whisperer", kind="extension"))
    document = whisperer(capable=False).manifest.document()
    reason = refusal(envelope, "parley.ext.whisperer", document, chat)
    assert reason == "missing_capability: ExtensionEphemeralRequested needs messages:ephemeral"
    assert "ExtensionEphemeralRequested" not in whisperer(capable=False).manifest.may_send
    assert "ExtensionEphemeralRequested" in whisperer().manifest.may_send


def test_no_extension_can_subscribe_to_another_ones_ephemeral_messages() -> None:
    with pytest.raises(ValidationError, match="only the core receives"):
        Manifest(
            id="snoop",
            version="1.0.0",
            name="Snoop",
            description="d",
            events=("ExtensionEphemeralRequested",),
        )
    # a registry entry written by hand still gets no rule for them
    document = ExtensionDocument(
        id="snoop", version="1.0.0", name="S", description="d", events=("ExtensionEphemeralRequested",)
    )
    assert "ExtensionEphemeralRequested" not in subscribed(document.events, ())
    assert "ExtensionEphemeralRequested" not in extension_route(document).pattern["detail-type"]


# -- the SDK -----------------------------------------------------------------------------------------


def test_send_ephemeral_needs_the_capability(parley_harness: HarnessFactory) -> None:
    harness = parley_harness(whisperer(capable=False))
    with pytest.raises(CapabilityError, match="messages:ephemeral"):
        harness.post("user-bob", "hello")
    assert harness.ephemeral() == []


def test_an_ephemeral_output_is_routed_to_no_extension_and_never_recorded(
    parley_harness: HarnessFactory,
) -> None:
    harness = parley_harness(whisperer())
    harness.post("user-bob", "hello")
    assert harness.ephemeral() == [("user-bob", "psst hello")]
    assert harness.posted() == ["said aloud"]
    (request,) = [e for e in harness.bus.published if e.event_type == "ExtensionEphemeralRequested"]
    # no extension's rule matches it (each needs its own id in metadata.extensions)
    assert request.metadata.extensions == ()


def test_a_failed_publish_loses_the_ephemeral_message_and_republishes_the_rest(
    parley_harness: HarnessFactory,
) -> None:
    harness = parley_harness(whisperer())
    harness.bus.fail_next = PublishError("bus down")
    with pytest.raises(PublishError):
        harness.post("user-bob", "hello")
    # the delivery row keeps the bot message for a republish, not the ephemeral text
    (recorded,) = harness.stores["chat-1"].committed.values()
    assert [o["metadata"]["event_type"] for o in recorded] == ["ExtensionMessageRequested"]
    assert "psst" not in json.dumps(recorded)
    assert harness.last is not None
    assert harness.deliver_envelope(harness.last) is False  # the retry republishes what was recorded
    assert (harness.posted(), harness.ephemeral()) == (["said aloud"], [])


def test_an_idempotent_extension_that_only_whispers_keeps_no_delivery_row(
    parley_harness: HarnessFactory,
) -> None:
    harness = parley_harness(whisperer(idempotent=True))
    harness.post("user-bob", "hello")
    assert harness.ephemeral() == [("user-bob", "psst hello")]
    store = harness.stores["chat-1"]
    assert (store.claims, store.committed) == ({}, {})


# -- welcome `private` -------------------------------------------------------------------------------


def test_welcome_greets_everyone_by_default_and_the_joiner_alone_when_private(
    parley_harness: HarnessFactory,
) -> None:
    public = parley_harness(welcome.extension)
    public.join("user-bob", "Bob")
    assert (public.posted(), public.ephemeral()) == (["Welcome Bob!"], [])
    public.close()

    private = parley_harness(welcome.extension, config={"private": True, "template": "Hi {name}"})
    private.join("user-bob", "Bob")
    assert (private.posted(), private.ephemeral()) == ([], [("user-bob", "Hi Bob")])


def test_welcome_declares_private_in_its_config_schema() -> None:
    schema = welcome.extension.manifest.document().config_schema
    assert schema["properties"]["private"]["default"] is False
    assert schema["properties"]["private"]["type"] == "boolean"
    assert "messages:ephemeral" in welcome.extension.manifest.capabilities


# -- the frame ---------------------------------------------------------------------------------------


def test_the_frame_is_marked_ephemeral_and_has_no_sequence() -> None:
    chat = chat_of_alice_and_bob()
    data = ephemeral_message(
        chat, participant_id="user-bob", text="hi", message_id="m-1", extension=("welcome", "Welcome bot")
    )
    frame = json.loads(
        frame_of(new_event(data, chat_id="chat-1", actor=Actor(id="welcome", kind="extension"))).encode()
    )
    assert frame["type"] == "EphemeralMessage"
    assert frame["ephemeral"] is True
    assert "sequence" not in frame
    assert frame["data"]["text"] == "hi"
    # other frames carry no such mark
    joined = commands.join(chat, user_id="user-carol", name="Carol", now=NOW).events[0]
    assert isinstance(joined, UserJoined)
    assert "ephemeral" not in json.loads(
        frame_of(new_event(joined, chat_id="chat-1", actor=Actor(id="x", kind="user"))).encode()
    )
