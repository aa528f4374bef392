"""The WebSocket protocol: what clients send (actions) and what the server pushes (frames).

docs/asyncapi.yaml is generated from these models, so the document cannot drift from the code.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from parley.blocks import ACTION_ID, MAX_INPUT_LENGTH, MAX_INPUTS
from parley.catalog import CLIENT_VISIBLE, MAX_WHISPER_RECIPIENTS, ClientVisible, Envelope
from parley.domain.model import MAX_MESSAGE_LENGTH

ActionValue = Annotated[StrictStr, Field(max_length=MAX_INPUT_LENGTH)] | StrictInt | StrictFloat
"""One value of a submitted action (a form input's, a select's, a poll's option id)."""

MAX_SEQUENCE = 2**53 - 1
"""No chat gets near it, and browsers read larger JSON integers inexactly."""


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Subscribe(_Action):
    """Start receiving a chat's frames; with `after_sequence`, first get what was missed."""

    action: Literal["subscribe"]
    chat_id: str = Field(min_length=1, max_length=64)
    after_sequence: int | None = Field(
        None, ge=0, le=MAX_SEQUENCE, description="The last event-log sequence the client saw."
    )


class Unsubscribe(_Action):
    action: Literal["unsubscribe"]
    chat_id: str = Field(min_length=1, max_length=64)


class Typing(_Action):
    """Typing indicator: throttled per member, expires by itself, never stored."""

    action: Literal["typing"]
    chat_id: str = Field(min_length=1, max_length=64)
    typing: bool = True


class SendMessage(_Action):
    """Post a message over the socket: same rules and result as POST /chats/{chat_id}/messages. A slash
    command (a text that starts with `/<name>` of an enabled extension's command) is acknowledged with
    `data.command` (`command_id`, `command`, `extension_id`, `args`) instead of `data.message`."""

    action: Literal["sendMessage"]
    chat_id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)
    client_message_id: str = Field(min_length=1, max_length=128)
    to: tuple[Annotated[str, Field(min_length=1, max_length=128)], ...] | None = Field(
        None,
        min_length=1,
        max_length=MAX_WHISPER_RECIPIENTS,
        description="A whisper's addressees (current members; the sender is implied), as on POST.",
    )


class SubmitAction(_Action):
    """Act on an extension's message over the socket: same rules and answer as POST
    /chats/{chat_id}/messages/{message_id}/actions (the Ack's `data` holds `submission_id`, `replayed`)."""

    action: Literal["submitAction"]
    chat_id: str = Field(min_length=1, max_length=64)
    message_id: str = Field(min_length=1, max_length=64)
    action_id: str = Field(pattern=ACTION_ID)
    values: dict[Annotated[str, Field(max_length=32)], ActionValue] = Field(
        default_factory=dict, max_length=MAX_INPUTS
    )
    client_action_id: str = Field(min_length=1, max_length=128)


class Ping(_Action):
    action: Literal["ping"]


ClientAction = Annotated[
    Subscribe | Unsubscribe | Typing | SendMessage | SubmitAction | Ping, Field(discriminator="action")
]
ACTIONS: tuple[str, ...] = ("subscribe", "unsubscribe", "typing", "sendMessage", "submitAction", "ping")

MAX_REPLAY_EVENTS = 1000
"""Event-log rows one ``subscribe`` replays at most: past it the Subscribed frame says
``complete: false`` and the client reads the rest over HTTP (GET /chats/{id}/events?after=)."""


class SubscribedData(BaseModel):
    """The Subscribed reply's ``data``: what the replay of ``after_sequence`` covered."""

    model_config = ConfigDict(defer_build=True)

    replayed: int = Field(description="Frames pushed by the replay (client-visible events only).")
    last_message_sequence: int = Field(description="The chat's latest message sequence.")
    replayed_through: int | None = Field(
        description="The last event-log sequence the replay covered (`after_sequence` when there was "
        "nothing to replay); null without `after_sequence`."
    )
    complete: bool = Field(
        description=f"False when the replay stopped at its bound ({MAX_REPLAY_EVENTS:,} events): read the "
        "rest with GET /chats/{chat_id}/events?after=<replayed_through>."
    )
    connection_id: str | None = Field(
        None,
        description="This socket's id: name it as `origin_connection_id` when posting over HTTP, and "
        "this socket is not sent the post's `MessageStored` (the POST's answer is its copy).",
    )


ReplyType = Literal["Subscribed", "Unsubscribed", "Ack", "pong", "Error"]
"""Frames that answer a client's action; every other frame is a client-visible event."""

FrameType = Literal[ClientVisible, ReplyType]
"""Every frame's ``type``: the catalog's client-visible events, then the replies."""


class Frame(BaseModel):
    """Every server-to-client message. Event frames carry the event-log `sequence` (none for
    ephemeral ones), so a client detects a gap and resumes with `subscribe {after_sequence}`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    type: FrameType
    chat_id: str | None = None
    sequence: int | None = None
    event_id: str | None = None
    occurred_at: datetime | None = None
    actor: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    ephemeral: Literal[True] | None = Field(
        None, description="True on an EphemeralMessage: only its addressee sees it, and it is never stored."
    )

    def encode(self) -> bytes:
        return json.dumps(
            self.model_dump(mode="json", exclude_none=True), separators=(",", ":"), ensure_ascii=False
        ).encode()


def frame_of(envelope: Envelope[Any]) -> Frame:
    if envelope.event_type not in CLIENT_VISIBLE:
        raise ValueError(f"{envelope.event_type} is not pushed to clients")
    meta = envelope.metadata
    return Frame(
        type=envelope.event_type,
        chat_id=meta.chat_id,
        sequence=meta.sequence,
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor.model_dump(mode="json"),
        data=envelope.data.model_dump(mode="json"),
        ephemeral=True if envelope.event_type == "EphemeralMessage" else None,
    )


def withheld_frame(chat_id: str, sequence: int) -> Frame:
    """What a member gets at the sequence of a stored event they may not see: no content, no actor,
    no time, so a whisper's text, author and moment stay with its audience; only its place shows."""
    return Frame(type="Withheld", chat_id=chat_id, sequence=sequence)


def error_frame(
    code: str, message: str, *, action: str | None = None, chat_id: str | None = None, **details: Any
) -> Frame:
    return Frame(
        type="Error", chat_id=chat_id, data={"code": code, "message": message, "action": action, **details}
    )
