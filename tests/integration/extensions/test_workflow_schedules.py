"""Scheduled workflows on moto, through the real API, bus, extension tick and gateway: a slot ticked twice
runs once; a tick reads the index and the chats with a due slot, never the other chats; a disabled
install or a completed chat runs nothing and leaves the index."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from parley.adapters.tables import ExtensionRecord
from parley.clock import utc_now
from parley.extensions.builtin import workflows
from parley.extensions.sdk import SHARED_SCOPE
from parley.root import extension_runtime
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.workflows import log, runs, save, texts

HOURLY = {
    "id": "hourly",
    "trigger": {"schedule": {"every_minutes": 60}},
    "steps": [{"do": "post", "text": "It is {schedule.at} in {chat.title}."}],
}
ON_JOIN = {
    "id": "greet",
    "trigger": {"event": "UserJoined"},
    "steps": [{"do": "post", "text": "Hi {actor.name}"}],
}


def next_hour(after: datetime) -> datetime:
    return after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@contextmanager
def dynamodb_requests() -> Iterator[list[tuple[str, str]]]:
    """Each DynamoDB request made while the block runs: (operation, its JSON body)."""
    made: list[tuple[str, str]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append(
            (model.name, params["body"].decode() if isinstance(params["body"], bytes) else params["body"])
        )

    events = ExtensionRecord._get_connection().connection.client.meta.events
    events.register("before-call.dynamodb", note, unique_id="schedule-requests")
    try:
        yield made
    finally:
        events.unregister("before-call.dynamodb", unique_id="schedule-requests")


def index() -> dict[str, Any]:
    return extension_runtime().state(workflows.extension.id, SHARED_SCOPE).items_under("chat#")


def test_a_slot_ticked_twice_runs_once(api: Api, bus: Bus, alice: User) -> None:
    # Given Alice's chat with an hourly workflow, saved now
    chat_id = str(api.create_chat(alice, title="Ops")["chat_id"])
    assert save(api, alice, chat_id, HOURLY).status == 201
    bus.pump()
    slot = next_hour(utc_now())

    # When the tick comes twice for the next hour's slot (a retry, or two ticks overlapping)
    first = workflows.extension.tick(now=slot + timedelta(seconds=5))
    second = workflows.extension.tick(now=slot + timedelta(seconds=30))
    bus.pump()

    # Then the slot ran once: one post with its time, one recorded run caused by the slot
    assert (first, second) == ({"ran": 1}, {})
    assert texts(api, alice, chat_id) == [f"It is {slot:%H:%M} in Ops."]
    [run] = runs(api, alice, chat_id)
    assert (run["workflow_id"], run["trigger_event_type"], run["steps"][0]["outcome"]) == (
        "hourly",
        "ScheduleReached",
        "ok",
    )
    # and a third tick in the same hour finds nothing due
    assert workflows.extension.tick(now=slot + timedelta(minutes=59)) == {}


def test_a_tick_reads_only_the_index_and_the_chats_with_a_due_slot(api: Api, bus: Bus, alice: User) -> None:
    # Given five chats with workflows, of which two have an hourly one
    plain = [str(api.create_chat(alice, title=f"Plain {n}")["chat_id"]) for n in range(3)]
    timed = [str(api.create_chat(alice, title=f"Timed {n}")["chat_id"]) for n in range(2)]
    for chat_id in plain:
        assert save(api, alice, chat_id, ON_JOIN).status == 201
    for chat_id in timed:
        assert save(api, alice, chat_id, HOURLY, ON_JOIN).status == 201
    bus.pump()
    assert set(index()) == {f"chat#{c}" for c in timed}
    slot = next_hour(utc_now())

    # When a tick finds nothing due, and then one finds both slots due
    with dynamodb_requests() as idle:
        assert workflows.extension.tick(now=slot - timedelta(minutes=1)) == {}
    with dynamodb_requests() as busy:
        assert workflows.extension.tick(now=slot) == {"ran": 2}
    bus.pump()

    # Then the idle tick made one request, the index's Query
    assert [operation for operation, _ in idle] == ["Query"]
    # and the busy one read nothing of the chats without a schedule
    assert not [body for _, body in busy if any(c in body for c in plain)]
    for chat_id in timed:
        assert texts(api, alice, chat_id) == [f"It is {slot:%H:%M} in {texts_title(api, alice, chat_id)}."]
    # and its reads were the index's Query and, per due chat, its context row and its index row
    reads = [operation for operation, _ in busy if operation in ("GetItem", "Query", "Scan")]
    assert reads == ["Query", *["GetItem"] * 2 * len(timed)]


def texts_title(api: Api, user: User, chat_id: str) -> str:
    return str(api.get(f"/chats/{chat_id}", user).json["title"])


def test_a_disabled_or_uninstalled_extension_or_a_completed_chat_runs_nothing_and_leaves_the_index(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given three chats with the hourly workflow
    disabled, removed, completed = (
        str(api.create_chat(alice, title=t)["chat_id"]) for t in ("Off", "Gone", "Done")
    )
    for chat_id in (disabled, removed, completed):
        assert save(api, alice, chat_id, HOURLY).status == 201
    bus.pump()

    # When the workflows extension is disabled on one and uninstalled from another (their life-cycle
    # events delivered), and the third chat is completed (no event reaches the extension: the tick finds it)
    response = api.put(
        f"/chats/{disabled}/extensions/workflows",
        alice,
        body={"enabled": False, "config": {"workflows": [HOURLY]}},
    )
    assert response.status in (200, 201), response.text
    assert api.delete(f"/chats/{removed}/extensions/workflows", alice).status == 204
    assert api.post(f"/chats/{completed}/complete", alice).status == 200
    bus.pump()
    assert index()[f"chat#{disabled}"] == index()[f"chat#{removed}"] == {}
    slot = next_hour(utc_now())
    assert workflows.extension.tick(now=slot) == {"gone": 1}
    bus.pump()

    # Then neither ran, both left the index, and a later slot reads neither chat
    for chat_id in (disabled, removed, completed):
        assert texts(api, alice, chat_id) == []
    assert index() == {f"chat#{disabled}": {}, f"chat#{removed}": {}, f"chat#{completed}": {}}
    assert not [e for e in log(api, alice, completed) if e["metadata"]["event_type"] == "WorkflowRun"]
    with dynamodb_requests() as later:
        assert workflows.extension.tick(now=slot + timedelta(hours=1)) == {}
    assert [operation for operation, _ in later] == ["Query"]
