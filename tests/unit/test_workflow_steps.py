"""Workflow steps that change the chat: `give_floor` and `change_setting`, without AWS. The definition
model, the core's rule (the one a moderator's request follows), and the extension on in-memory ports:
each step asks once per delivery, or is refused saying why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from parley.catalog import (
    CATALOG,
    ChatSettingsChanged,
    ExtensionFloorRequested,
    ExtensionSettingsRequested,
    TurnChanged,
    new_event,
)
from parley.domain import commands
from parley.domain import extensions as installs
from parley.domain import workflows as wf
from parley.domain.model import ChatSettings
from parley.errors import ChatCompletedError, InvalidRequestError
from parley.extensions.builtin import webhook, workflows
from parley.extensions.policy import SHADOW, refusal
from tests.unit.chats import OWNER, at, new_chat, with_members
from tests.unit.workflow_world import World, joined, runs, workflow

FLOOR = {"do": "give_floor"}
MODERATED = {"do": "change_setting", "settings": {"turn_mode": "moderated"}}


# -- the definition ---------------------------------------------------------------------------------------


def test_both_steps_are_valid_definitions_and_old_ones_stay_valid() -> None:
    config = {
        "workflows": [
            workflow("UserJoined", FLOOR, {"do": "give_floor", "to": "user-carol"}, MODERATED),
            workflow("UserJoined", id="old"),
        ]
    }
    assert wf.problems(config) == []
    parsed = wf.WorkflowsConfig.model_validate(config)
    floor = parsed.workflows[0].steps[0]
    assert isinstance(floor, wf.GiveFloorStep)
    assert floor.to == "{actor.id}"


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"do": "give_floor", "to": "{message.id}"}, "config.workflows.0.steps.0.to"),
        ({"do": "give_floor", "to": ""}, "config.workflows.0.steps.0.to"),
        ({"do": "change_setting", "settings": {}}, "config.workflows.0.steps.0.settings"),
        (
            {"do": "change_setting", "settings": {"hook_fallback": "allow"}},
            "config.workflows.0.steps.0.settings.hook_fallback",
        ),
        (
            {"do": "change_setting", "settings": {"extension_messages_per_minute": 600}},
            "config.workflows.0.steps.0.settings.extension_messages_per_minute",
        ),
        (
            {"do": "change_setting", "settings": {"turn_timeout_seconds": 1}},
            "config.workflows.0.steps.0.settings.turn_timeout_seconds",
        ),
        (
            {"do": "change_setting", "settings": {"turn_mode": "chaos"}},
            "config.workflows.0.steps.0.settings.turn_mode",
        ),
    ],
)
def test_a_bad_step_names_its_field(step: dict[str, Any], field: str) -> None:
    config = {"workflows": [workflow("UserJoined", step)]}
    assert field in [p["field"] for p in wf.problems(config)]


def test_the_schema_offers_both_steps() -> None:
    validator = Draft202012Validator(wf.schema())
    assert list(validator.iter_errors({"workflows": [workflow("UserJoined", FLOOR, MODERATED)]})) == []
    bad = {
        "workflows": [
            workflow("UserJoined", {"do": "change_setting", "settings": {"hook_fallback": "allow"}})
        ]
    }
    assert list(validator.iter_errors(bad)) != []


def test_a_workflow_may_change_exactly_the_allowed_settings_within_the_moderators_bounds() -> None:
    # The step's settings are the core's allow-list, each bounded as the chat's settings are
    assert tuple(wf.SettingChanges.model_fields) == commands.EXTENSION_SETTINGS
    mine, chats = (
        wf.SettingChanges.model_json_schema()["properties"],
        ChatSettings.model_json_schema()["properties"],
    )
    for name in commands.EXTENSION_SETTINGS[1:]:
        bounded = next(a for a in mine[name]["anyOf"] if a.get("type") == "integer")
        assert (bounded.get("minimum"), bounded.get("maximum")) == (
            chats[name]["minimum"],
            chats[name]["maximum"],
        )
    # and the request's documentation names each of them
    description = CATALOG["ExtensionSettingsRequested"].description
    assert all(f"`{name}`" in description for name in commands.EXTENSION_SETTINGS)


# -- the core's rule ----------------------------------------------------------------------------------------


def test_an_extension_gives_the_floor_by_the_moderators_rule() -> None:
    chat = with_members(new_chat("moderated"), "user-bob")
    outcome = commands.give_floor(chat, participant_id="user-bob", now=at(5))
    [moved] = outcome.events
    assert isinstance(moved, TurnChanged)
    assert (moved.holder_id, moved.reason) == ("user-bob", "granted")
    assert outcome == commands.grant_turn(chat, user_id=OWNER, participant_id="user-bob", now=at(5))


@pytest.mark.parametrize(
    ("chat", "to", "error"),
    [
        (with_members(new_chat("free"), "user-bob"), "user-bob", InvalidRequestError),
        (with_members(new_chat("moderated"), "user-bob"), "user-zed", InvalidRequestError),
        (
            with_members(new_chat("moderated"), "user-bob").model_copy(update={"status": "completed"}),
            "user-bob",
            ChatCompletedError,
        ),
    ],
)
def test_the_floor_is_refused_outside_a_moderated_chat_to_a_non_member_or_when_completed(
    chat: Any, to: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        commands.give_floor(chat, participant_id=to, now=at(5))


def test_an_extension_changes_only_the_allowed_settings_and_is_named_as_the_changer() -> None:
    chat = with_members(new_chat("free"), "user-bob")
    outcome = commands.extension_settings(
        chat,
        extension_id="workflows",
        changes={"turn_mode": "moderated", "rate_limit_messages": 3},
        now=at(5),
    )
    changed, turned = outcome.events
    assert isinstance(changed, ChatSettingsChanged)
    assert isinstance(turned, TurnChanged)
    assert changed.changed_by == "ext:workflows"
    assert changed.changes == {"rate_limit_messages": 3, "turn_mode": "moderated"}
    assert outcome.chat.turn_mode == "moderated"
    for forbidden in ({"hook_fallback": "allow"}, {"extension_messages_per_minute_total": 6000}):
        with pytest.raises(InvalidRequestError, match="extensions may change only"):
            commands.extension_settings(chat, extension_id="workflows", changes=forbidden, now=at(5))
    with pytest.raises(InvalidRequestError, match="invalid settings"):
        commands.extension_settings(chat, extension_id="w", changes={"max_message_length": 0}, now=at(5))


def test_only_an_extension_holding_the_capability_may_ask() -> None:
    chat = World({"webhook": {}, "workflows": {}}).chat
    for data, capability in (
        (
            ExtensionFloorRequested(extension_id="webhook", request_id="r", participant_id="user-bob"),
            "turns:give",
        ),
        (
            ExtensionSettingsRequested(extension_id="webhook", request_id="r", changes={"turn_mode": "free"}),
            "settings:write",
        ),
    ):
        forged = new_event(data, chat_id=chat.chat_id, actor=webhook.extension.actor)
        assert refusal(forged, forged.source, webhook.extension.manifest.document(), chat) == (
            f"missing_capability: {data.event_type} needs {capability}"
        )
        real = new_event(
            data.model_copy(update={"extension_id": "workflows"}),
            chat_id=chat.chat_id,
            actor=workflows.extension.actor,
        )
        assert refusal(real, real.source, workflows.extension.manifest.document(), chat) is None


# -- the extension on in-memory ports ---------------------------------------------------------------------


def world(*steps: Any, turn_mode: str = "moderated", **chat: Any) -> World:
    made = World({"workflows": {"workflows": [workflow("UserJoined", *steps)]}}, workflows.extension)
    made.chat = made.chat.model_copy(update={"turn_mode": turn_mode, **chat})
    return made


def asked(made: World) -> list[Any]:
    return [
        o.data
        for o in made.bus.published
        if isinstance(o.data, ExtensionFloorRequested | ExtensionSettingsRequested)
    ]


def test_the_steps_ask_the_core_once_per_delivery_and_report_ok() -> None:
    made = world(FLOOR, MODERATED, {"do": "change_setting", "settings": {"rate_limit_messages": 5}})
    event = joined(made.chat)

    # When the join is delivered three times
    assert [workflows.extension.deliver(event) for _ in range(3)] == [True, False, False]

    # Then the floor and two settings changes were asked once each, with distinct request ids
    floor, mode, rate = asked(made)
    assert isinstance(floor, ExtensionFloorRequested)
    assert floor.participant_id == "user-bob"
    assert (mode.changes, rate.changes) == ({"turn_mode": "moderated"}, {"rate_limit_messages": 5})
    assert len({floor.request_id, mode.request_id, rate.request_id}) == 3
    [run] = runs(made.bus.published)
    assert [(s.do, s.outcome) for s in run.steps] == [
        ("give_floor", "ok"),
        ("change_setting", "ok"),
        ("change_setting", "ok"),
    ]


@pytest.mark.parametrize(
    ("step", "chat", "why"),
    [
        (
            FLOOR,
            {"turn_mode": "free"},
            "invalid_request: the floor is given by moderators only in moderated chats",
        ),
        (
            {"do": "give_floor", "to": "user-zed"},
            {},
            "invalid_request: the floor can only be given to a member",
        ),
        (MODERATED, {"status": "completed"}, "chat_completed"),
        (
            {"do": "change_setting", "settings": {"turn_mode": "free"}},
            {"status": "completed"},
            "chat_completed",
        ),
    ],
)
def test_a_step_the_chat_refuses_is_refused_saying_why_and_asks_nothing(
    step: dict[str, Any], chat: dict[str, Any], why: str
) -> None:
    made = world(step, **chat)
    workflows.extension.deliver(joined(made.chat))
    [run] = runs(made.bus.published)
    assert run.steps[0].outcome == "refused"
    assert run.steps[0].reason.startswith(why)
    assert asked(made) == []


def test_the_readmes_example_of_both_steps_is_a_valid_config() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Steps that change the chat", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    config = json.loads(block)
    assert wf.problems(config) == []
    assert [w["steps"][0]["do"] for w in config["workflows"]] == ["give_floor", "change_setting"]


def test_a_shadow_install_asks_for_the_floor_and_settings_only_on_the_record() -> None:
    # Given the workflows extension in shadow mode on a moderated chat
    made = world(FLOOR, MODERATED)
    made.chat = installs.put_install(
        made.chat,
        user_id=OWNER,
        extension_id="workflows",
        version="1",
        enabled=True,
        config={"workflows": [workflow("UserJoined", FLOOR, MODERATED)]},
        now=at(2),
        shadow=True,
    ).chat
    # When its requests reach the core's rule, Then each is recorded as a shadow output, never applied
    for data in (
        ExtensionFloorRequested(extension_id="workflows", request_id="r", participant_id="user-bob"),
        ExtensionSettingsRequested(extension_id="workflows", request_id="r", changes={"turn_mode": "free"}),
    ):
        envelope = new_event(data, chat_id=made.chat.chat_id, actor=workflows.extension.actor)
        assert (
            refusal(envelope, envelope.source, workflows.extension.manifest.document(), made.chat) == SHADOW
        )
