"""`make replay` on the running local stack: the log's window is delivered again to one route by the
dispatcher, and changes nothing (the inbox and the chat are as they were); the inbox, which the relay
keeps, is refused and pointed to its rebuild."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.stack import ROOT, Client


def _stats(stack: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{stack}/local/stats", timeout=10) as response:
        stats: dict[str, Any] = json.loads(response.read())
        return stats


def _succeeded(stack: str, route: str) -> int:
    return int(_stats(stack)["targets"][route]["succeeded"])


def _ops(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/parley/python'}:{ROOT}"}
    env["PARLEY_PORT"] = stack.rsplit(":", 1)[1]
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "infra.local.ops", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_replay_delivers_the_logs_window_to_one_route_and_changes_nothing(stack: str) -> None:
    # Given a round-robin chat with a message from each, counted by the inbox
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    start = datetime.now(UTC) - timedelta(seconds=1)
    chat_id = alice.create_chat(title="Replayed", turn_mode="round_robin")
    bob.join(chat_id)
    alice.post(chat_id, "one")
    deadline = time.monotonic() + 15
    while (
        time.monotonic() < deadline
        and alice.call("GET", f"/chats/{chat_id}").json["turn"]["holder_id"] != bob.user_id
    ):
        time.sleep(0.2)
    bob.post(chat_id, "two")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _stats(stack)["in_flight"]:
        time.sleep(0.2)
    before = alice.call("GET", "/chats?limit=200").json
    chat_before = alice.call("GET", f"/chats/{chat_id}").json
    delivered = _succeeded(stack, "turns")

    # When the window is replayed into the turns route
    window = ["--route", "turns", "--from", start.isoformat(), "--to", datetime.now(UTC).isoformat()]
    done = _ops(stack, "replay", *window)

    # Then the dispatcher delivers the window's events the turns rule takes (this chat's join and two
    # posts, and any other test's meanwhile) to turns again
    assert done.returncode == 0, done.stdout + done.stderr
    queued = int(done.stdout.split(": ")[1].split()[0])
    assert queued >= 3
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _succeeded(stack, "turns") < delivered + queued:
        time.sleep(0.2)
    assert _succeeded(stack, "turns") >= delivered + queued
    # And nothing changed: the floor, Alice's inbox and the chat agree with the log as before
    assert alice.call("GET", f"/chats/{chat_id}").json["turn"] == chat_before["turn"]
    after = alice.call("GET", "/chats?limit=200").json
    mine = [c for c in after["items"] if c["chat_id"] == chat_id]
    assert mine == [c for c in before["items"] if c["chat_id"] == chat_id]
    assert mine[0]["unread"] == 1
    assert _ops(stack, "rebuild", chat_id, "--check").returncode == 0

    # And a replay into the inbox is refused, pointing to its rebuild
    refused = _ops(stack, "replay", "--route", "inbox", "--from", start.isoformat(), "--to", window[-1])
    assert refused.returncode == 2
    assert "make rebuild-inbox" in refused.stdout + refused.stderr
