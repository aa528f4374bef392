"""Workflows on moto, through the real API, bus, extension and gateway: a moderator saves one, a join
or a message triggers it, its run is recorded for moderators only, and a redelivery runs nothing twice."""

from __future__ import annotations

from typing import Any

from parley import root
from parley.catalog import parse_detail
from parley.extensions.builtin import workflows
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus
from tests.support.workflows import log, runs, save, texts

GREET = {
    "id": "greet",
    "trigger": {
        "event": "UserJoined",
        "conditions": [{"var": "actor.kind", "op": "equals", "value": "human"}],
    },
    "steps": [{"do": "post", "text": "Welcome {actor.name} to {chat.title}!"}],
}
HELP = {
    "id": "help",
    "trigger": {
        "event": "MessageStored",
        "conditions": [{"var": "message.text", "op": "contains", "value": "help"}],
    },
    "steps": [{"do": "post", "text": "{actor.name} asked for help: a moderator is on the way."}],
}


def test_a_saved_workflow_runs_on_its_trigger_and_its_run_is_for_moderators_only(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given Alice's chat with two workflows
    chat_id = str(api.create_chat(alice, title="Book club")["chat_id"])
    assert save(api, alice, chat_id, GREET, HELP).status == 201

    # When Bob joins, and asks for help, and the bus settles
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    assert api.send(bob, chat_id, "Can someone HELP me?").status == 201
    bus.pump()

    # Then both workflows posted, as the workflows bot
    assert texts(api, bob, chat_id) == [
        "Welcome Bob to Book club!",
        "Can someone HELP me?",
        "Bob asked for help: a moderator is on the way.",
    ]
    # and the owner reads both runs, with their triggers and step outcomes
    greet, helped = runs(api, alice, chat_id)
    assert (greet["workflow_id"], greet["trigger_event_type"]) == ("greet", "UserJoined")
    assert greet["steps"] == [{"index": 0, "do": "post", "outcome": "ok", "reason": ""}]
    assert (helped["workflow_id"], helped["trigger_event_type"]) == ("help", "MessageStored")
    # while Bob, a member, reads only content-free markers at their sequences
    assert runs(api, bob, chat_id) == []
    run_sequences = {
        e["metadata"]["sequence"]
        for e in log(api, alice, chat_id)
        if e["metadata"]["event_type"] == "WorkflowRun"
    }
    withheld = {
        e["metadata"]["sequence"] for e in log(api, bob, chat_id) if e["metadata"]["event_type"] == "Withheld"
    }
    assert run_sequences <= withheld
    assert root.rebuild_service().check(chat_id).differences == ()


def test_a_redelivered_trigger_runs_the_workflow_once(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat with the greeting workflow, and Bob's join delivered once
    chat_id = str(api.create_chat(alice, title="Book club")["chat_id"])
    save(api, alice, chat_id, GREET)
    api.post(f"/chats/{chat_id}/members", bob)
    [joined] = [
        e
        for e in bus.emitted()
        if e["detail-type"] == "UserJoined" and e["detail"]["metadata"]["chat_id"] == chat_id
    ][-1:]
    bus.pump()

    # When the queue delivers the same join again
    assert workflows.extension.deliver(joined) is False
    bus.pump()

    # Then one greeting and one recorded run
    assert texts(api, alice, chat_id) == ["Welcome Bob to Book club!"]
    assert len(runs(api, alice, chat_id)) == 1


def test_a_run_report_delivered_twice_to_the_gateway_is_recorded_once(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat whose greeting workflow ran once on Bob's join
    chat_id = str(api.create_chat(alice, title="Book club")["chat_id"])
    save(api, alice, chat_id, GREET)
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    [reported] = [e for e in bus.emitted() if e["detail-type"] == "WorkflowRunReported"]

    # When the gateway's queue delivers the same report again
    assert root.extension_service().accept(parse_detail(reported["detail"]), reported["source"]) is None
    bus.pump()

    # Then the run is recorded once
    assert len(runs(api, alice, chat_id)) == 1


def test_only_moderators_save_workflows_and_a_bad_one_names_its_field(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    chat_id = str(api.create_chat(alice)["chat_id"])
    api.post(f"/chats/{chat_id}/members", bob)

    # A member who is not a moderator may not define workflows
    assert_error(save(api, bob, chat_id, GREET), 403, "forbidden")

    # A variable its trigger does not offer is a 422 naming the field
    bad = {**GREET, "steps": [{"do": "post", "text": "You said {message.text}"}]}
    response = save(api, alice, chat_id, bad)
    assert_error(response, 422, "invalid_config")
    fields = [p["field"] for p in response.json["error"]["fields"]]
    assert fields == ["config.workflows.0.steps.0.text"]


def test_the_schema_is_public(api: Api) -> None:
    response = api.get("/workflows/schema", None)
    assert response.status == 200
    assert response.json["x-parley-variables"]["MessageStored"][-1] == "message.text"


def test_welcome_and_its_workflow_store_the_same_greetings(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given one chat with welcome and another with the equivalent workflow, same title
    with_welcome = str(api.create_chat(alice, title="Club")["chat_id"])
    with_workflow = str(api.create_chat(alice, title="Club")["chat_id"])
    response = api.put(
        f"/chats/{with_welcome}/extensions/welcome", alice, body={"enabled": True, "config": {}}
    )
    assert response.status == 201, response.text
    greet = {**GREET, "steps": [{"do": "post", "text": "Welcome {actor.name}!"}]}
    assert save(api, alice, with_workflow, greet).status == 201

    # When Bob and Carol join both
    for chat_id in (with_welcome, with_workflow):
        for user in (bob, carol):
            assert api.post(f"/chats/{chat_id}/members", user).status == 200
        bus.pump()

    # Then both chats stored the same greetings, for the same audience, in the same order
    def greetings(chat_id: str) -> list[tuple[str, str, Any]]:
        return [
            (e["metadata"]["event_type"], e["data"]["message"]["text"], e["metadata"].get("audience"))
            for e in log(api, alice, chat_id)
            if e["metadata"]["event_type"] == "MessageStored"
        ]

    assert greetings(with_workflow) == greetings(with_welcome)
    assert [text for _, text, _ in greetings(with_welcome)] == ["Welcome Bob!", "Welcome Carol!"]
    # and beside them the workflow's chat has only its runs (for moderators)
    types = {e["metadata"]["event_type"] for e in log(api, alice, with_workflow)}
    assert types - {e["metadata"]["event_type"] for e in log(api, alice, with_welcome)} == {"WorkflowRun"}
