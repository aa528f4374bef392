"""The `give_floor` and `change_setting` workflow steps on moto, through the real API, bus, extension
and gateway: applied by the rules a moderator's request follows, once per request however often it is
delivered, refused (and recorded) for each reason the chat can give, never retried into a DLQ."""

from __future__ import annotations

from typing import Any

import pytest

from parley import root
from parley.catalog import (
    EventData,
    ExtensionFloorRequested,
    ExtensionSettingsRequested,
    new_event,
    parse_detail,
)
from parley.extensions.builtin import workflows
from tests.support.api import Api, User
from tests.support.bus import Bus

FLOOR_TO_NEWCOMERS = {
    "id": "floor",
    "trigger": {
        "event": "UserJoined",
        "conditions": [{"var": "actor.kind", "op": "equals", "value": "human"}],
    },
    "steps": [{"do": "give_floor"}],
}
ORDER = {
    "id": "order",
    "trigger": {
        "event": "MessageStored",
        "conditions": [{"var": "message.text", "op": "contains", "value": "order"}],
    },
    "steps": [{"do": "change_setting", "settings": {"turn_mode": "moderated", "rate_limit_messages": 5}}],
}


def save(api: Api, user: User, chat_id: str, *definitions: dict[str, Any]) -> None:
    body = {"enabled": True, "config": {"workflows": list(definitions)}}
    response = api.put(f"/chats/{chat_id}/extensions/workflows", user, body=body)
    assert response.status == 201, response.text


def log(api: Api, user: User, chat_id: str, event_type: str) -> list[dict[str, Any]]:
    items = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200}).json["items"]
    return [e for e in items if e["metadata"]["event_type"] == event_type]


def steps(api: Api, user: User, chat_id: str) -> list[tuple[str, str, str]]:
    runs = log(api, user, chat_id, "WorkflowRun")
    return [(s["do"], s["outcome"], s["reason"]) for run in runs for s in run["data"]["steps"]]


def requested(bus: Bus, detail_type: str) -> Any:
    [request] = [e for e in bus.emitted() if e["detail-type"] == detail_type]
    return parse_detail(request["detail"]), request["source"]


def sent_by_workflows(chat_id: str, data: EventData) -> Any:
    """A request as the workflows extension puts it on the bus."""
    envelope = new_event(data, chat_id=chat_id, actor=workflows.extension.actor)
    return envelope, envelope.source


def test_a_workflow_gives_a_newcomer_the_floor_once(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a moderated chat that gives each person who joins the floor
    chat_id = str(api.create_chat(alice, turn_mode="moderated")["chat_id"])
    save(api, alice, chat_id, FLOOR_TO_NEWCOMERS)

    # When Bob joins
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()

    # Then he holds the floor, given by the workflows bot, and the run says so
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == bob.user_id
    [granted] = [e for e in log(api, alice, chat_id, "TurnChanged") if e["data"]["reason"] == "granted"]
    assert granted["metadata"]["actor"]["id"] == "ext:workflows"
    assert steps(api, alice, chat_id) == [("give_floor", "ok", "")]

    # When Bob speaks (the floor goes back to Alice, the chair) and the request is delivered again
    assert api.send(bob, chat_id, "thanks").status == 201
    bus.pump()
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == alice.user_id
    assert root.extension_service().accept(*requested(bus, "ExtensionFloorRequested")) is None
    bus.pump()

    # Then nothing moves: the floor was given once
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == alice.user_id
    assert len([e for e in log(api, alice, chat_id, "TurnChanged") if e["data"]["reason"] == "granted"]) == 1


def test_a_workflow_changes_allowed_settings_once(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a free chat whose workflow restores order when someone asks for it
    chat_id = str(api.create_chat(alice)["chat_id"])
    api.post(f"/chats/{chat_id}/members", bob)
    save(api, alice, chat_id, ORDER)

    # When Bob asks for order
    assert api.send(bob, chat_id, "order, please").status == 201
    bus.pump()

    # Then the chat is moderated with the new rate, changed by the workflows bot
    chat = api.get(f"/chats/{chat_id}", alice).json
    assert (chat["turn_mode"], chat["settings"]["rate_limit_messages"]) == ("moderated", 5)
    [changed] = log(api, alice, chat_id, "ChatSettingsChanged")
    assert changed["data"]["changed_by"] == "ext:workflows"
    assert changed["data"]["changes"] == {"rate_limit_messages": 5, "turn_mode": "moderated"}
    assert steps(api, alice, chat_id) == [("change_setting", "ok", "")]

    # When Alice sets it free again and the request is delivered again
    assert api.patch(f"/chats/{chat_id}/settings", alice, body={"turn_mode": "free"}).status == 200
    assert root.extension_service().accept(*requested(bus, "ExtensionSettingsRequested")) is None
    bus.pump()

    # Then her change stands: the workflow's was applied once
    assert api.get(f"/chats/{chat_id}", alice).json["turn_mode"] == "free"
    assert len(log(api, alice, chat_id, "ChatSettingsChanged")) == 2


def test_a_step_the_chat_refuses_is_reported_in_the_run(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a free chat (no floor to give) with the newcomers' workflow
    chat_id = str(api.create_chat(alice)["chat_id"])
    save(api, alice, chat_id, FLOOR_TO_NEWCOMERS)
    # When Bob joins
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    # Then the run says why, and nothing was asked of the core
    [(do, outcome, reason)] = steps(api, alice, chat_id)
    assert (do, outcome) == ("give_floor", "refused")
    assert reason.startswith("invalid_request: the floor is given by moderators only in moderated chats")
    assert "ExtensionFloorRequested" not in bus.emitted_types()


@pytest.mark.parametrize(
    ("data", "later"),
    [
        (
            ExtensionSettingsRequested(
                extension_id="workflows", request_id="same", changes={"turn_mode": "moderated"}
            ),
            {"turn_mode": "free"},
        ),
        (
            ExtensionFloorRequested(extension_id="workflows", request_id="same", participant_id="user-alice"),
            None,
        ),
    ],
)
def test_a_request_that_changed_nothing_is_still_applied_once(
    api: Api, bus: Bus, alice: User, bob: User, data: EventData, later: dict[str, Any] | None
) -> None:
    # Given a moderated chat where Alice, the chair, holds the floor, with the workflows extension
    chat_id = str(api.create_chat(alice, turn_mode="moderated")["chat_id"])
    api.post(f"/chats/{chat_id}/members", bob)
    save(api, alice, chat_id)
    # When a request that changes nothing arrives (the chat is already so): applied, a no-op
    assert root.extension_service().accept(*sent_by_workflows(chat_id, data)) is None
    # And the chat then moves (Alice sets it free, or gives Bob the floor)
    if later is not None:
        assert api.patch(f"/chats/{chat_id}/settings", alice, body=later).status == 200
    else:
        assert api.post(f"/chats/{chat_id}/turn", alice, body={"participant_id": bob.user_id}).status == 200
    before = api.get(f"/chats/{chat_id}", alice).json
    # And the same request is delivered again, much later
    assert root.extension_service().accept(*sent_by_workflows(chat_id, data)) is None
    # Then it is a no-op: its request id was claimed by the first delivery
    after = api.get(f"/chats/{chat_id}", alice).json
    assert {k: after[k] for k in ("turn_mode", "settings", "turn")} == {
        k: before[k] for k in ("turn_mode", "settings", "turn")
    }


@pytest.mark.parametrize(
    ("turn_mode", "complete", "data", "reason"),
    [
        (
            "free",
            False,
            ExtensionFloorRequested(extension_id="workflows", request_id="r1", participant_id="user-bob"),
            "invalid_request: the floor is given by moderators only in moderated chats",
        ),
        (
            "moderated",
            False,
            ExtensionFloorRequested(extension_id="workflows", request_id="r2", participant_id="user-zed"),
            "invalid_request: the floor can only be given to a member",
        ),
        (
            "moderated",
            True,
            ExtensionFloorRequested(extension_id="workflows", request_id="r3", participant_id="user-bob"),
            "chat_completed",
        ),
        (
            "free",
            False,
            ExtensionSettingsRequested(
                extension_id="workflows", request_id="r4", changes={"hook_fallback": "allow"}
            ),
            "invalid_request: extensions may change only",
        ),
        (
            "free",
            False,
            ExtensionSettingsRequested(
                extension_id="workflows", request_id="r5", changes={"extension_messages_per_minute": 600}
            ),
            "invalid_request: extensions may change only",
        ),
        (
            "free",
            False,
            ExtensionSettingsRequested(
                extension_id="workflows", request_id="r6", changes={"max_message_length": 0}
            ),
            "invalid_request: invalid settings",
        ),
        (
            "free",
            True,
            ExtensionSettingsRequested(
                extension_id="workflows", request_id="r7", changes={"turn_mode": "moderated"}
            ),
            "chat_completed",
        ),
    ],
)
def test_the_gateway_refuses_what_the_chat_cannot_take_and_records_why(
    api: Api, bus: Bus, alice: User, bob: User, turn_mode: str, complete: bool, data: EventData, reason: str
) -> None:
    # Given a chat with the workflows extension enabled (the chat may have moved since it asked)
    chat_id = str(api.create_chat(alice, turn_mode=turn_mode)["chat_id"])
    api.post(f"/chats/{chat_id}/members", bob)
    save(api, alice, chat_id)
    if complete:
        assert api.post(f"/chats/{chat_id}/complete", alice).status == 200
    before = api.get(f"/chats/{chat_id}", alice).json

    # When the gateway gets a request the chat cannot take: final, acked (never retried into a DLQ)
    refused = root.extension_service().accept(*sent_by_workflows(chat_id, data))

    # Then it is refused and recorded with the reason, and the chat did not change
    assert refused is not None
    assert refused.startswith(reason)
    [rejected] = log(api, alice, chat_id, "ExtensionEventRejected")
    assert rejected["data"]["rejected_event_type"] == data.event_type
    assert rejected["data"]["reason"].startswith(reason)
    after = api.get(f"/chats/{chat_id}", alice).json
    assert {k: after[k] for k in ("turn_mode", "settings", "turn")} == {
        k: before[k] for k in ("turn_mode", "settings", "turn")
    }


def test_the_moderator_sees_both_capabilities_before_installing(api: Api, alice: User) -> None:
    [document] = [d for d in api.get("/extensions", alice).json["items"] if d["id"] == "workflows"]
    assert {"turns:give", "settings:write"} <= set(document["capabilities"])
