"""The local dispatcher's stream routes, as Lambda's event source mappings on the events table's
stream: a crashing consumer is retried, then dead-lettered (``/local/stats`` shows it), and a
redrive reads the batch back from the stream; ``in_flight`` holds until every record is handled."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from infra.local.dispatcher import Dispatcher
from infra.local.faults import Faults, Rule
from infra.local.provision import Provisioned
from tests.support.api import Api, User


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time-out"
        time.sleep(0.05)


@pytest.fixture
def streams(aws: Provisioned) -> Iterator[tuple[Dispatcher, Faults]]:
    faults = Faults(seed=1)
    dispatcher = Dispatcher(aws, "us-east-1", faults=faults, max_backoff_seconds=0)
    dispatcher.start_streams()  # the stream routes only: the queue routes stay undelivered
    yield dispatcher, faults
    dispatcher.stop()


def test_a_crashing_stream_consumer_is_dead_lettered_visibly_and_redriven_from_the_stream(
    api: Api, alice: User, streams: tuple[Dispatcher, Faults]
) -> None:
    dispatcher, faults = streams
    # Given a chat whose events both stream routes have handled
    chat_id = api.create_chat(alice)["chat_id"]
    dispatcher.notify_written()
    eventually(lambda: dispatcher.in_flight()["relay"] == 0 and dispatcher.in_flight()["broadcaster"] == 0)

    # When every stream batch crashes after its effects, and a message is posted
    faults.arm([Rule("handler.crash", 1.0)])
    api.send(alice, chat_id, "crashes its consumers")
    dispatcher.notify_written()

    # Then each route retries it up to its attempts, then dead-letters it, and the stats say so
    eventually(
        lambda: dispatcher.dead_lettered()["relay"] >= 1 and dispatcher.dead_lettered()["broadcaster"] >= 1
    )
    eventually(lambda: dispatcher.in_flight()["relay"] == 0 and dispatcher.in_flight()["broadcaster"] == 0)
    # (each attempt counted: its MaximumRetryAttempts for the relay, 3 for the broadcaster)
    eventually(lambda: dispatcher.snapshot()["targets"]["relay"]["retries"] >= 10)
    eventually(lambda: dispatcher.snapshot()["targets"]["broadcaster"]["retries"] >= 3)

    # When the fault is cleared and the dead letters are redriven
    faults.clear()
    moved = dispatcher.redrive()

    # Then the batches are read back from the stream and handled: acked, nothing left anywhere
    assert moved["relay"] >= 1
    assert moved["broadcaster"] >= 1
    stored = api.get(f"/chats/{chat_id}/events", alice).json["items"][-1]
    assert stored["event_type"] == "MessageStored"
    eventually(lambda: stored["event_id"] in dispatcher.delivered.snapshot().get("broadcaster", []))
    eventually(lambda: stored["event_id"] in dispatcher.delivered.snapshot().get("relay", []))
    assert dispatcher.dead_lettered()["relay"] == 0
    assert dispatcher.dead_lettered()["broadcaster"] == 0
    eventually(lambda: dispatcher.in_flight()["relay"] == 0 and dispatcher.in_flight()["broadcaster"] == 0)
