"""Random frames over a real socket of the local stack: each gets an answer, and the socket keeps working.

The smaller sibling of tests/integration/test_realtime_frames.py: the same frames, through the local
gateway's WebSocket (routing on `action`, the 128 KB message limit) to the realtime Lambda.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.frame_strategies import MAX_MESSAGE_BYTES, frames, with_chats
from tests.support.stack import Client, Socket

REPLIES = {"Error", "pong", "Subscribed", "Unsubscribed", "Ack"}


@pytest.fixture(scope="module")
def alice_socket(stack: str) -> Iterator[tuple[Socket, str, str]]:
    """Alice's socket, her chat and Bob's (she is not in it)."""
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    own, foreign = alice.create_chat(), bob.create_chat()
    socket = alice.socket()
    yield socket, own, foreign
    socket.close()


def reply_to(socket: Socket, text: str) -> dict[str, Any]:
    socket.connection.send(text)
    return socket.wait_for(lambda f: f["type"] in REPLIES)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=frames.map(lambda f: f.encode("utf-8", "replace").decode()))
def test_random_frames_over_a_real_socket_get_an_answer(
    alice_socket: tuple[Socket, str, str], frame: str
) -> None:
    socket, own, foreign = alice_socket
    text = with_chats(frame, own, foreign)
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        return  # over the limit: the next test

    # When the socket sends the frame, Then it gets an answer frame, never the gateway's "internal"
    reply = reply_to(socket, text)
    if reply["type"] == "Error":
        assert reply["data"]["code"] not in {"internal", "internal_error"}, (text[:200], reply)

    # And the socket still serves a valid action
    assert reply_to(socket, '{"action": "ping"}')["type"] == "pong"


def test_a_frame_over_the_limit_closes_the_socket_cleanly_and_a_new_one_works(stack: str) -> None:
    # Given Alice's socket
    alice = Client.sign_in(stack, "Alice")
    socket = alice.socket()

    # When it sends a message over API Gateway's 128 KB limit
    socket.connection.send('{"action":"ping","pad":"' + "x" * MAX_MESSAGE_BYTES + '"}')

    # Then the socket is closed with 1009 (message too big), not left hanging
    with pytest.raises(ConnectionClosed) as closed:
        socket.connection.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009

    # And a new socket works
    again = alice.socket()
    assert reply_to(again, '{"action": "ping"}')["type"] == "pong"
    again.close()


def test_an_overlong_ticket_is_refused_at_the_handshake(stack: str) -> None:
    # Given a real ticket, When 3,000 characters are added to it, Then the handshake is refused (403)
    alice = Client.sign_in(stack, "Alice")
    url = alice.ticket_url()
    with pytest.raises(InvalidStatus) as refused:
        connect(url + "x" * 3000, open_timeout=10)
    assert refused.value.response.status_code == 403
