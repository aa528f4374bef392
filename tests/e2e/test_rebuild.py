"""`make rebuild` on the running local stack: a live chat agrees with its log; a damaged item is
reported, then repaired from the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import boto3

from tests.support.stack import ROOT, Client


def _rebuild(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
    port = stack.rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/parley/python'}:{ROOT}", "PARLEY_PORT": port}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "infra.local.ops", "rebuild", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _chats_table(stack: str) -> Any:
    with urllib.request.urlopen(f"{stack}/local/stats", timeout=10) as response:
        endpoint = json.loads(response.read())["aws_endpoint"]
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return dynamodb.Table("parley-chats")


def test_make_rebuild_checks_and_repairs_a_chat_on_the_local_stack(stack: str) -> None:
    # Given a round-robin chat that has seen joins, posts and turn moves
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Rebuilt", turn_mode="round_robin")
    bob.join(chat_id)
    alice.post(chat_id, "first")
    time.sleep(1.0)  # the turns handler moves the floor on the bus
    assert _rebuild(stack, chat_id, "--check").returncode == 0

    # When its stored item is damaged behind the log's back (the title and the turn)
    table = _chats_table(stack)
    item = table.get_item(Key={"chat_id": chat_id}, ConsistentRead=True)["Item"]
    state = json.loads(item["state"])
    state["title"], state["turn"]["turn_number"] = "Damaged", 99
    table.put_item(Item={**item, "state": json.dumps(state)})

    # Then the check names both facts and exits 1
    checked = _rebuild(stack, chat_id, "--check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "title: stored 'Damaged', log says 'Rebuilt'" in checked.stdout
    assert "turn.turn_number: stored 99" in checked.stdout

    # And a repair puts the log's facts back, which the API then serves
    repaired = _rebuild(stack, chat_id)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert _rebuild(stack, chat_id, "--check").returncode == 0
    assert alice.call("GET", f"/chats/{chat_id}").json["title"] == "Rebuilt"
