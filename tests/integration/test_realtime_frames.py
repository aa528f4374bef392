"""Any text a client can send on a socket gets an answer frame, never an unhandled exception.

A property test drives the real realtime Lambda on moto with random frames: not JSON, JSON of the
wrong shape, unknown actions, wrong types, huge and deeply nested frames, chats the sender is not in,
and frames after a $disconnect. Every reply is a frame the AsyncAPI document describes, and the
socket still serves valid actions afterwards.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.chats import chat_of
from tests.support.frame_strategies import frames, with_chats
from tests.support.frames import conforms
from tests.support.sockets import Sockets

_connection_ids = itertools.count()


@pytest.fixture
def chats(api: Api, bus: Bus, alice: User, bob: User) -> tuple[str, str]:
    """Alice's chat and Bob's, which she is not in (made once: hypothesis reuses the fixtures)."""
    return chat_of(api, bus, alice), chat_of(api, bus, bob)


steps = st.lists(frames.map(lambda f: ("frame", f)) | st.just(("disconnect", "")), min_size=1, max_size=6)


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
        body = with_chats(frame, own, foreign)
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
