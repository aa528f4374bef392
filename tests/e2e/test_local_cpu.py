"""GET /local/cpu: the CPU time of the stack's process and moto's, what bench's CPU per post reads."""

from __future__ import annotations

import os

import pytest

from tests.support.stack import Client


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="moto's process is read from /proc")
def test_both_processes_cpu_time_grows_with_the_posts_they_carry(stack: str) -> None:
    # Given a chat, and each process's CPU seconds so far
    alice = Client.sign_in(stack, "Alice")
    chat_id = alice.create_chat(title="cpu", settings={"rate_limit_messages": 1000})
    before = alice.call("GET", "/local/cpu", auth=False).json["cpu_seconds"]

    # When posts are made
    for n in range(15):
        alice.post(chat_id, f"m{n}")

    # Then both processes report more CPU time than before
    after = alice.call("GET", "/local/cpu", auth=False).json["cpu_seconds"]
    assert set(after) == {"stack", "moto"}
    assert after["stack"] > before["stack"]
    assert after["moto"] > before["moto"]
