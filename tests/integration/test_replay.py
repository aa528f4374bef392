"""Replay on moto: for every core route, delivering a window of events again, twice, changes
nothing (idempotent consumers); the local replay reads the stack's own log; the AWS replay asks
EventBridge for the archive's window delivered to the route's own rule only."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.local.provision import Provisioned
from parley import root
from parley.adapters import tables
from parley.ops.replay import replay
from parley.routing import ROUTES, Route
from parley.services.replay import ReplayService, matches
from parley.settings import settings as parley_settings
from tests.support.api import Api, User
from tests.support.bus import Bus

ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}


@pytest.fixture(autouse=True)
def _fast_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    monkeypatch.setenv("PARLEY_AI_CANCEL_CHECK_SECONDS", "0")
    root.reset()


def snapshot(bus: Bus) -> dict[str, Any]:
    """Every table's items, and how many events the catch-all sink has seen."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    config = parley_settings()
    state: dict[str, Any] = {}
    for table in tables.TABLES:
        items = client.scan(TableName=getattr(config, table.setting), ConsistentRead=True)["Items"]
        state[table.key] = sorted(json.dumps(item, sort_keys=True, default=bytes.hex) for item in items)
    state["sink"] = len(bus.emitted())
    return state


@pytest.fixture
def history(api: Api, bus: Bus, alice: User, bob: User) -> None:
    """A round-robin chat with an AI and the welcome bot: joins, posts, turn moves, an AI reply, a bot
    message and an extension's request, all delivered."""
    chat_id = api.create_chat(alice, turn_mode="round_robin", ai_participants=[ORACLE])["chat_id"]
    body = {"enabled": True, "config": {}}
    assert api.put(f"/chats/{chat_id}/extensions/welcome", alice, body=body).status == 201
    bus.pump()
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    assert api.send(alice, chat_id, "a riddle").status == 201
    bus.pump()
    assert api.send(bob, chat_id, "another").status == 201
    bus.pump()


BUS_ROUTES = [r for r in ROUTES if r.delivery != "stream"]


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("route", BUS_ROUTES, ids=[r.name for r in BUS_ROUTES])
def test_replaying_a_core_route_twice_changes_nothing(bus: Bus, route: Route) -> None:
    # Given every event the bus carried (what its archive holds), of which some are for this route
    archived = [{**e, "replay-name": "test"} for e in bus.emitted()]
    assert [e for e in archived if matches(route, e)], f"the history has no event for {route.name}"
    service = ReplayService(region="us-east-1", bus_name="parley")
    before = snapshot(bus)

    # When the window is replayed into the route, and then again
    for _ in range(2):
        sent = service.into_route(route, archived, "test")
        bus.pump()
        # Then nothing changed: no table, no new event
        assert sent.sent > 0
        assert snapshot(bus) == before


def test_the_local_replay_reads_the_stacks_own_log_into_one_route(
    bus: Bus, history: None, aws: Provisioned
) -> None:
    # Given the log of the history, and nothing waiting on any queue
    now = datetime.now(UTC)
    out = io.StringIO()
    # When the last hour is replayed into the turns route only
    assert replay("turns", now - timedelta(hours=1), now + timedelta(minutes=1), local=True, out=out) == 0
    # Then the route's queue holds exactly the log's events the turns rule takes, marked as a replay
    queued = [json.loads(m["Body"]) for m in bus.raw_queue("turns")]
    assert {e["detail-type"] for e in queued} == {"MessageStored", "UserJoined"}
    assert {e["replay-name"] for e in queued} == {out.getvalue().split(":")[0]}
    stored = [e for e in queued if e["detail-type"] == "MessageStored"]
    senders = [e["detail"]["data"]["message"]["sender_id"] for e in stored]
    assert senders == ["ext:welcome", "user-alice", "oracle", "user-bob"]
    assert all(bus.raw_queue(r.name) == [] for r in BUS_ROUTES if r.name != "turns")
    # And a window before anything happened queues nothing
    assert replay("turns", now - timedelta(hours=2), now - timedelta(hours=1), local=True, out=out) == 0
    assert bus.raw_queue("turns") == []


def test_the_aws_replay_starts_from_the_archive_to_the_routes_own_rule(aws: Provisioned) -> None:
    # Given the bus with its archive (as CDK builds it) and the routes' rules (as the local stack does)
    events = boto3.client("events", region_name="us-east-1")
    bus_arn = events.describe_event_bus(Name="parley")["Arn"]
    events.create_archive(ArchiveName="parley-archive", EventSourceArn=bus_arn)
    start, end = datetime(2026, 1, 31, 10, tzinfo=UTC), datetime(2026, 1, 31, 11, tzinfo=UTC)
    out = io.StringIO()
    # When an operator replays an hour into the turns route
    status = replay("turns", start, end, name="fix-turns", out=out)
    # Then one replay runs from the archive, for that window, to the turns rule alone
    assert status == 0, out.getvalue()
    turns_rule = events.describe_rule(Name="parley-turns", EventBusName="parley")["Arn"]
    assert out.getvalue().startswith("fix-turns: ")
    assert turns_rule in out.getvalue()
    described = events.describe_replay(ReplayName="fix-turns")
    assert described["Destination"] == {"Arn": bus_arn, "FilterArns": [turns_rule]}
    assert described["EventSourceArn"].endswith(":archive/parley-archive")
    assert (described["EventStartTime"], described["EventEndTime"]) == (start, end)


def test_an_unknown_route_or_an_empty_window_is_refused(aws: Provisioned) -> None:
    now, out = datetime.now(UTC), io.StringIO()
    assert replay("no_such_route", now - timedelta(hours=1), now, local=True, out=out) == 2
    assert replay("turns", now, now, local=True, out=out) == 2
    assert "unknown route 'no_such_route'" in out.getvalue()


@pytest.mark.parametrize("name", [r.name for r in ROUTES if r.delivery == "stream"])
def test_a_stream_route_is_not_replayed_from_the_bus(name: str) -> None:
    # Given a route that reads the events table's stream (no rule, no queue)
    out = io.StringIO()
    now = datetime.now(UTC)
    # When a replay into it is asked for
    status = replay(name, now - timedelta(hours=1), now, local=True, out=out)
    # Then it is refused, saying why and what to do instead
    assert status == 2
    assert "reads the events table's stream" in out.getvalue()


def test_the_inbox_is_not_replayed_but_rebuilt() -> None:
    # Given the inbox, which the relay keeps from the events table's stream (no route of its own)
    out = io.StringIO()
    now = datetime.now(UTC)
    # When a replay into it is asked for
    status = replay("inbox", now - timedelta(hours=1), now, local=True, out=out)
    # Then it is refused, naming the rebuild that catches it up instead
    assert status == 2
    assert "kept by the relay" in out.getvalue()
    assert "make rebuild-inbox" in out.getvalue()
