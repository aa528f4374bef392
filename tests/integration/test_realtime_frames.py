"""Any text a client can send on a socket gets an answer frame, never an unhandled exception.

A property test drives the real realtime Lambda on moto with random frames: not JSON, JSON of the
wrong shape, unknown actions, wrong types, huge and deeply nested frames, chats the sender is not in,
and frames after a $disconnect. Every reply is a frame the AsyncAPI document describes, and the
socket still serves valid actions afterwards.
"""

from __future__ import annotations

import itertools
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.realtime.frames import ACTIONS
from tests.integration import test_realtime
from tests.integration.test_realtime import chat_of
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.frames import conforms
from tests.support.sockets import Sockets

gateway, sockets = test_realtime.gateway, test_realtime.sockets  # fixtures shared with those tests

OWN, FOREIGN = "<own chat>", "<foreign chat>"
"""Placeholders replaced by a chat the sender is in, and one they are not in."""

MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway's WebSocket message limit: nothing longer ever reaches the Lambda."""

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**140), max_value=2**140)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from([OWN, FOREIGN, "\ud800", "\x00"])
    | st.integers(min_value=60, max_value=4096).map(lambda n: "c" * n)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
field_values = (
    json_leaves | st.lists(json_leaves, max_size=2) | st.dictionaries(st.text(max_size=5), json_leaves)
)

_action_fields = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTIONS) | json_leaves},
    optional={
        "chat_id": st.sampled_from([OWN, FOREIGN]) | field_values,
        "after_sequence": st.integers(min_value=-(2**140), max_value=2**140) | field_values,
        "text": st.text(max_size=50) | field_values,
        "client_message_id": st.text(max_size=20) | field_values,
        "typing": st.booleans() | field_values,
    },
)
action_shaped = st.builds(
    lambda fields, extra: {**extra, **fields},
    _action_fields,
    st.dictionaries(st.text(max_size=8), field_values, max_size=2),
)


def _nested(depth: int, kind: str) -> str:
    return {"list": "[" * depth + "]" * depth, "object": '{"a":' * depth + "1" + "}" * depth}[kind]


def _many_keys(count: int) -> str:
    return json.dumps({"action": "ping", **{f"k{i}": i for i in range(count)}})


frames = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=string.printable, max_size=80),
    json_values.map(json.dumps),
    action_shaped.map(json.dumps),
    action_shaped.map(lambda a: json.dumps(a, ensure_ascii=False)),
    st.builds(_nested, st.integers(min_value=1, max_value=20_000), st.sampled_from(["list", "object"])),
    st.builds(_many_keys, st.integers(min_value=1, max_value=4_000)),
    st.integers(min_value=1, max_value=MAX_MESSAGE_BYTES).map(
        lambda n: '{"action":"ping","pad":"' + "x" * n + '"}'
    ),
    st.integers(min_value=1, max_value=MAX_MESSAGE_BYTES).map(lambda n: "x" * n),
)
steps = st.lists(frames.map(lambda f: ("frame", f)) | st.just(("disconnect", "")), min_size=1, max_size=6)

_connection_ids = itertools.count()


@pytest.fixture
def chats(api: Api, bus: Bus, alice: User, bob: User) -> tuple[str, str]:
    """Alice's chat and Bob's, which she is not in (made once: hypothesis reuses the fixtures)."""
    return chat_of(api, bus, alice), chat_of(api, bus, bob)


def _with_chats(text: str, own: str, foreign: str) -> str:
    return text.replace(OWN, own).replace(FOREIGN, foreign)


def _reply_is_an_answer(reply: dict[str, Any], frame: str, *, connected: bool) -> None:
    """An Error frame with a stable code, or the reply to a valid action; never the catch-all."""
    conforms(reply)
    if reply["type"] == "Error":
        code = reply["data"]["code"]
        assert code != "internal_error", (frame[:200], reply)
        if not connected:
            assert code in {"not_connected", "invalid_action"}, (frame[:200], reply)
        assert len(json.dumps(reply)) < 32 * 1024, "an error frame must stay far below the frame limit"
    else:
        assert connected, (frame[:200], reply)
        assert reply["type"] in {"pong", "Subscribed", "Unsubscribed", "Ack"}, (frame[:200], reply)


@pytest.mark.integration
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(script=steps)
def test_random_frames_get_an_error_frame_and_the_socket_keeps_working(
    sockets: Sockets, alice: User, chats: tuple[str, str], script: list[tuple[str, str]]
) -> None:
    # Given Alice's chat and Bob's chat (Alice is not in Bob's), and a socket of Alice's
    own, foreign = chats
    conn = sockets.open(alice, f"fuzz-{next(_connection_ids)}")
    connected = True

    for step, frame in script:
        if step == "disconnect":
            # When API Gateway reports the socket gone, Then that is always fine, even twice
            assert sockets.disconnect(conn) == {"statusCode": 200}
            connected = False
            continue
        # When the socket sends the frame
        body = _with_chats(frame, own, foreign)
        reply = sockets.send_raw(conn, body)

        # Then it gets an answer frame (an Error for anything that is not a valid action)
        _reply_is_an_answer(reply, body, connected=connected)

    # And a socket still open serves valid actions afterwards
    if connected:
        assert sockets.send(conn, action="ping")["type"] == "pong"
        assert sockets.send(conn, action="subscribe", chat_id=own)["type"] == "Subscribed"
        refused = sockets.send(conn, action="subscribe", chat_id=foreign)
        assert refused["data"]["code"] == "chat_not_found"
        sockets.disconnect(conn)
