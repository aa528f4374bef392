"""The sweeper Lambda reads the turn-deadline index first and builds the chat service only when some
turn is due: the usual run (nothing due) skips the catalog and the domain (`make bench`'s cold start)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.dispatch import LambdaContext
from infra.local.functions import load_handler
from parley import root
from parley.adapters.tables import ChatRecord
from parley.services.chats import ChatService
from tests.support.api import Api, User
from tests.support.bus import Bus

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


def sweep() -> dict[str, Any]:
    result: dict[str, Any] = load_handler("outbox_sweeper")(
        SCHEDULED, LambdaContext.for_function("outbox_sweeper")
    )
    return result


def _sweeper_module() -> Any:
    load_handler("outbox_sweeper")
    return sys.modules["parley_functions.outbox_sweeper.handler"]


def test_a_sweep_with_no_turn_due_never_builds_the_chat_service(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a round-robin chat whose turn is not due yet
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    assert ChatRecord.get(chat_id).turn_deadline > datetime.now(UTC).isoformat()
    built: list[bool] = []
    monkeypatch.setattr(_sweeper_module(), "chat_service", lambda: built.append(True))

    # When the sweeper runs
    result = sweep()

    # Then it moved nothing and never asked for the chat service
    assert result == {"turns_moved": 0}
    assert built == []


def test_a_due_turn_is_handed_to_the_chat_service(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a round-robin chat that the deadline index lists as due
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ChatRecord.get(chat_id).update(actions=[ChatRecord.turn_deadline.set(past)])
    asked: list[dict[str, Any]] = []

    class Chats:
        def expire_turns(self, **kwargs: Any) -> int:
            asked.append(kwargs)
            return len(kwargs["due"])

    monkeypatch.setattr(_sweeper_module(), "chat_service", Chats)

    # When the sweeper runs
    result = sweep()

    # Then the chat service got the chats the index found (and read the index no second time)
    assert result == {"turns_moved": 1}
    assert [a["due"] for a in asked] == [[chat_id]]


def test_the_chat_service_moves_the_due_turns_it_is_handed(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given Bob holds a round-robin turn
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    api.send(alice, chat_id, "over to you, Bob")
    bus.pump()
    deadline = datetime.fromisoformat(ChatRecord.get(chat_id).turn_deadline)
    late = ChatService(root.chat_repository(), root.outbox(), clock=lambda: deadline + timedelta(seconds=1))

    # When it is handed the chat as due, past the deadline (twice)
    moved = [late.expire_turns(now=deadline + timedelta(seconds=1), due=[chat_id]) for _ in range(2)]

    # Then the floor moved once, to Alice, with reason timeout
    assert moved == [1, 0]
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == alice.user_id
    changes = [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == "TurnChanged"]
    assert (changes[-1]["holder_id"], changes[-1]["reason"]) == (alice.user_id, "timeout")


CHILD = """
import sys
sys.path.insert(0, {folder!r})
import handler
from parley import root
root.turn_deadlines()
heavy = ("parley.catalog", "parley.domain.model", "parley.services.chats")
print(sorted(m for m in heavy if m in sys.modules))
"""


def test_the_sweeper_reads_the_index_without_the_catalog_or_the_chat_service() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/parley/python"), str(ROOT)]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    code = CHILD.format(folder=str(ROOT / "functions" / "outbox_sweeper"))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
