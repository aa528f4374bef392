"""The WebSocket protocol: frames made from catalog events, their encoding, and the client actions."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from parley.catalog import CATALOG, CLIENT_VISIBLE, Actor, ClientVisible, Envelope, EventData, new_event
from parley.domain.model import MAX_MESSAGE_LENGTH
from parley.realtime.frames import (
    ACTIONS,
    ClientAction,
    Frame,
    FrameType,
    Ping,
    ReplyType,
    SendMessage,
    Subscribe,
    Typing,
    Unsubscribe,
    error_frame,
    frame_of,
)
from tests.unit.samples import SAMPLE_TIME, message_stored, sample_data

ALICE = Actor(id="user-alice", kind="user", name="Alice")
ACTION = TypeAdapter[ClientAction](ClientAction)
VISIBLE = sorted(CLIENT_VISIBLE)
HIDDEN = sorted(set(CATALOG) - CLIENT_VISIBLE)


def envelope_of(data: EventData, *, sequence: int | None = 7) -> Envelope[EventData]:
    envelope = new_event(
        data, chat_id="chat-1", actor=ALICE, occurred_at=SAMPLE_TIME, correlation_id="corr-1"
    )
    # ephemeral events are never stored, so they never get an event-log sequence
    return envelope if data.ephemeral or sequence is None else envelope.with_sequence(sequence)


# -- frames from events ----------------------------------------------------------------------------


def test_frame_types_are_the_client_visible_events_then_the_replies() -> None:
    # Given the catalog's one list of client-visible events
    # Then the frame protocol's types are exactly those, then the replies (none of them an event),
    # and every name in the list is a catalogued event (a typo would be a frame nobody sends)
    assert get_args(FrameType) == (*get_args(ClientVisible), *get_args(ReplyType))
    assert set(get_args(ClientVisible)) == CLIENT_VISIBLE
    assert set(CATALOG) >= CLIENT_VISIBLE
    assert not set(get_args(ReplyType)) & set(CATALOG)


@pytest.mark.parametrize("event_type", VISIBLE)
def test_frame_of_keeps_what_a_client_needs(event_type: str) -> None:
    # Given an envelope of a client-visible event
    envelope = envelope_of(sample_data()[event_type])

    # When it becomes a frame
    frame = frame_of(envelope)

    # Then the frame carries the event's type, chat, sequence, identity, time, actor and data
    meta = envelope.metadata
    assert frame.type == event_type
    assert frame.chat_id == "chat-1"
    assert frame.sequence == meta.sequence
    assert frame.event_id == meta.event_id
    assert frame.occurred_at == SAMPLE_TIME
    assert frame.actor == {"id": "user-alice", "kind": "user", "name": "Alice"}
    assert frame.data == envelope.data.model_dump(mode="json")

    # And on the wire, the same fields (a stored event's sequence; none for an ephemeral one)
    wire = json.loads(frame.encode())
    assert wire["type"] == event_type
    assert wire["chat_id"] == "chat-1"
    assert wire["event_id"] == meta.event_id
    assert wire["data"] == envelope.data.model_dump(mode="json")
    if envelope.data.ephemeral:
        assert "sequence" not in wire
    else:
        assert wire["sequence"] == 7
    # metadata meant for the bus (correlation, causation) stays off the wire
    assert set(wire) <= {
        "type",
        "chat_id",
        "sequence",
        "event_id",
        "occurred_at",
        "actor",
        "data",
        "ephemeral",
    }
    # and only a message for one member says it is one
    assert ("ephemeral" in wire) is (event_type == "EphemeralMessage")


@pytest.mark.parametrize("event_type", HIDDEN)
def test_frame_of_refuses_an_event_clients_never_see(event_type: str) -> None:
    envelope = envelope_of(sample_data()[event_type])
    with pytest.raises(ValueError, match="is not pushed to clients"):
        frame_of(envelope)


# -- encoding --------------------------------------------------------------------------------------


def test_encode_is_compact_utf8_json() -> None:
    # Given a frame whose text is not ASCII
    text = 'héllo ✓ 👋 «quoted» "and" \\ back'
    frame = frame_of(envelope_of(message_stored(text)))

    # When it is encoded
    encoded = frame.encode()

    # Then it is UTF-8 JSON with no spaces between tokens and no \\u escapes
    assert isinstance(encoded, bytes)
    decoded = json.loads(encoded.decode("utf-8"))
    assert decoded["data"]["message"]["text"] == text
    assert text.encode() in encoded.replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    assert b"\\u" not in encoded
    assert encoded == json.dumps(decoded, separators=(",", ":"), ensure_ascii=False).encode()


def test_encode_leaves_out_empty_fields() -> None:
    # Given frames with and without the optional fields
    frames = [
        Frame(type="pong"),
        Frame(type="Unsubscribed", chat_id="chat-1"),
        frame_of(envelope_of(sample_data()["TypingStarted"])),
        error_frame("invalid_action", "the frame is not a valid action"),
    ]
    for frame in frames:
        # When each is encoded, Then no top-level field is null: absent fields are left out
        wire = json.loads(frame.encode())
        assert all(value is not None for value in wire.values()), wire
    assert Frame(type="pong").encode() == b'{"type":"pong","data":{}}'
    assert (
        Frame(type="Unsubscribed", chat_id="c").encode() == b'{"type":"Unsubscribed","chat_id":"c","data":{}}'
    )


def test_a_null_that_means_something_in_the_data_is_kept() -> None:
    # Given a TurnChanged that opens the floor to everyone (holder_id null)
    data = sample_data()["TurnChanged"].model_copy(update={"holder_id": None, "turn_mode": "free"})

    # When it is pushed, Then the client still sees holder_id: null (the event's own contract)
    wire = json.loads(frame_of(envelope_of(data)).encode())
    assert "holder_id" in wire["data"]
    assert wire["data"]["holder_id"] is None


# -- client actions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"action": "subscribe", "chat_id": "c-1"}, Subscribe(action="subscribe", chat_id="c-1")),
        (
            {"action": "subscribe", "chat_id": "c-1", "after_sequence": 0},
            Subscribe(action="subscribe", chat_id="c-1", after_sequence=0),
        ),
        ({"action": "unsubscribe", "chat_id": "c-1"}, Unsubscribe(action="unsubscribe", chat_id="c-1")),
        ({"action": "typing", "chat_id": "c-1"}, Typing(action="typing", chat_id="c-1", typing=True)),
        (
            {"action": "typing", "chat_id": "c-1", "typing": False},
            Typing(action="typing", chat_id="c-1", typing=False),
        ),
        (
            {"action": "sendMessage", "chat_id": "c-1", "text": "hi", "client_message_id": "m-1"},
            SendMessage(action="sendMessage", chat_id="c-1", text="hi", client_message_id="m-1"),
        ),
        ({"action": "ping"}, Ping(action="ping")),
    ],
    ids=lambda v: v["action"] if isinstance(v, dict) else "",
)
def test_each_action_parses_into_its_model(raw: dict[str, Any], expected: ClientAction) -> None:
    parsed = ACTION.validate_json(json.dumps(raw))
    assert type(parsed) is type(expected)
    assert parsed == expected


def test_actions_lists_exactly_the_union() -> None:
    members = get_args(get_args(ClientAction)[0])
    names = {get_args(m.model_fields["action"].annotation)[0] for m in members}
    assert names == set(ACTIONS)
    assert len(ACTIONS) == len(set(ACTIONS))


@pytest.mark.parametrize(
    "raw",
    [
        {"action": "dance"},
        {"action": "Ping"},
        {"chat_id": "c-1"},
        {},
        {"action": "ping", "extra": 1},
        {"action": "subscribe", "chat_id": "c-1", "since": 3},
        {"action": "typing", "chat_id": "c-1", "typing": True, "text": "x"},
        {"action": "subscribe"},
        {"action": "subscribe", "chat_id": ""},
        {"action": "subscribe", "chat_id": "c" * 65},
        {"action": "subscribe", "chat_id": "c-1", "after_sequence": -1},
        {"action": "subscribe", "chat_id": "c-1", "after_sequence": "many"},
        {"action": "sendMessage", "chat_id": "c-1", "text": "hi"},
        {"action": "sendMessage", "chat_id": "c-1", "text": "", "client_message_id": "m-1"},
        {
            "action": "sendMessage",
            "chat_id": "c-1",
            "text": "x" * (MAX_MESSAGE_LENGTH + 1),
            "client_message_id": "m",
        },
        {"action": "sendMessage", "chat_id": "c-1", "text": "hi", "client_message_id": "m" * 129},
    ],
)
def test_an_unknown_action_extra_fields_or_bad_values_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTION.validate_json(json.dumps(raw))


@pytest.mark.parametrize("text", ["", "not json", "[]", "null", '"ping"', '{"action": "ping"'])
def test_what_is_not_a_json_object_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        ACTION.validate_json(text)


def test_actions_are_immutable() -> None:
    action = Subscribe(action="subscribe", chat_id="c-1")
    with pytest.raises(ValidationError):
        action.chat_id = "c-2"  # type: ignore[misc]


# -- error frames ----------------------------------------------------------------------------------


def test_error_frame_shape() -> None:
    # When an action is refused with details
    frame = error_frame("rate_limited", "slow down", action="sendMessage", chat_id="chat-1", retry_after=3)

    # Then it is an Error frame for the chat with code, message, action and the details in data
    assert json.loads(frame.encode()) == {
        "type": "Error",
        "chat_id": "chat-1",
        "data": {"code": "rate_limited", "message": "slow down", "action": "sendMessage", "retry_after": 3},
    }


def test_an_error_frame_without_action_or_chat() -> None:
    # When the frame could not even be parsed into an action
    wire = json.loads(error_frame("invalid_action", "the frame is not a valid action", fields=[]).encode())

    # Then there is no chat_id, no sequence, and data still has the documented keys
    assert wire["type"] == "Error"
    assert "chat_id" not in wire
    assert "sequence" not in wire
    assert {"code", "message", "action"} <= set(wire["data"])
    assert wire["data"]["code"] == "invalid_action"
    assert wire["data"]["fields"] == []
