"""Workflows without AWS: the definition model, conditions, variables, the schema, and the extension
that runs them on in-memory ports (welcome as a workflow gives welcome's events)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from parley.catalog import (
    CORE_SOURCE,
    Actor,
    Envelope,
    ExtensionConfigChanged,
    MessageStored,
    MessageView,
    WorkflowRun,
    WorkflowRunReported,
    new_event,
)
from parley.domain import extensions as installs
from parley.domain import workflows as wf
from parley.domain.model import Chat
from parley.extensions.builtin import webhook, welcome, workflows
from parley.extensions.manifest import Manifest
from parley.extensions.policy import refusal
from parley.extensions.sdk import SHARED_SCOPE, TICK_KEY, Extension, TickFailedError
from tests.unit.chats import OWNER, at, new_chat
from tests.unit.workflow_world import World, joined, runs, workflow

SECRET = "s" * 20


def fields(config: Mapping[str, Any]) -> list[str]:
    return [p["field"] for p in wf.problems(config)]


# -- validation --------------------------------------------------------------------------------------


def test_a_valid_config_has_no_problems() -> None:
    config = {"workflows": [workflow(conditions=[{"var": "actor.kind", "op": "equals", "value": "human"}])]}
    assert wf.problems(config) == []


def test_an_unknown_variable_is_refused_at_its_own_field() -> None:
    # Given a UserJoined workflow that names a MessageStored variable in a step and in a condition
    config = {
        "workflows": [
            workflow(
                "UserJoined",
                {"do": "post", "text": "ok {actor.name}"},
                {"do": "ephemeral", "text": "you said {message.text}"},
                conditions=[{"var": "message.text", "op": "contains", "value": "hi"}],
            )
        ]
    }
    # Then each problem names the bad field's path
    assert fields(config) == [
        "config.workflows.0.trigger.conditions.0.var",
        "config.workflows.0.steps.1.text",
    ]
    assert "unknown variable {message.text} for UserJoined" in wf.problems(config)[0]["problem"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"workflows": [workflow(None)]}, "config.workflows.0.trigger.event"),
        (
            {"workflows": [workflow("UserJoined", {"do": "post", "text": ""})]},
            "config.workflows.0.steps.0.text",
        ),
        ({"workflows": [workflow("UserJoined", {"do": "teleport"})]}, "config.workflows.0.steps.0"),
        (
            {"workflows": [workflow("UserJoined", {"do": "post", "text": "x" * (wf.MAX_TEMPLATE + 1)})]},
            "config.workflows.0.steps.0.text",
        ),
        ({"workflows": [workflow(steps=None)]}, "config.workflows.0.steps"),
        (
            {"workflows": [workflow("UserJoined", *[{"do": "post", "text": "x"}] * (wf.MAX_STEPS + 1))]},
            "config.workflows.0.steps",
        ),
        ({"workflows": [workflow(id=f"w{n}") for n in range(wf.MAX_WORKFLOWS + 1)]}, "config.workflows"),
        ({"workflows": [workflow(), workflow()]}, "config.workflows.1.id"),
        (
            {"workflows": [workflow("UserJoined", {"do": "webhook", "url": "https://h.example/x"})]},
            "config.webhook_secret",
        ),
        (
            {"workflows": [workflow(conditions=[{"var": "actor.kind", "op": "in", "value": "human"}])]},
            "config.workflows.0.trigger.conditions.0",
        ),
        (
            {"workflows": [workflow(conditions=[{"var": "actor.kind", "op": "equals", "value": ["a"]}])]},
            "config.workflows.0.trigger.conditions.0",
        ),
        (
            {"workflows": [workflow("UserJoined", {"do": "emit", "name": "Bad Name"})]},
            "config.workflows.0.steps.0.name",
        ),
        ({"workflows": [], "surprise": 1}, "config.surprise"),
    ],
)
def test_a_bad_definition_names_the_bad_field(config: dict[str, Any], field: str) -> None:
    if config["workflows"] and config["workflows"][0].get("steps") is None:
        config["workflows"][0].pop("steps")
    assert field in fields(config)


def test_webhook_steps_are_bounded_per_chat() -> None:
    hook = {"do": "webhook", "url": "https://h.example/x"}
    config = {"webhook_secret": SECRET, "workflows": [workflow("UserJoined", hook, hook, hook)]}
    assert fields(config) == ["config.workflows.0.steps.2"]


# -- variables, rendering, conditions ------------------------------------------------------------------


def message_event(text: str, chat: Chat) -> Envelope[Any]:
    message = MessageView(
        message_id="m-1",
        chat_id=chat.chat_id,
        sequence=1,
        sender_id="user-bob",
        sender_name="Bob",
        sender_kind="human",
        text=text,
        created_at=at(3),
    )
    data = MessageStored(message=message, turn_mode="free", turn_number=0)
    return new_event(
        data, chat_id=chat.chat_id, actor=Actor(id="user-bob", kind="user", name="Bob")
    ).with_sequence(7)


def test_a_messages_variables_name_its_sender_text_and_chat() -> None:
    chat = new_chat("free")
    values = wf.variables(message_event("Hello there", chat), chat)
    assert set(values) == set(wf.VARIABLES["MessageStored"])
    assert values["actor.name"] == "Bob"
    assert values["message.text"] == "Hello there"
    assert values["chat.title"] == "Planning"
    assert values["event.sequence"] == "7"


def test_rendering_substitutes_once_and_runs_nothing() -> None:
    values = {"actor.name": "{chat.title} {__class__}", "chat.title": "T"}
    # a value's own braces stay text, an attribute lookup is just a name, and the result is bounded
    assert wf.render("Hi {actor.name}, {chat.title}!", values) == "Hi {chat.title} {__class__}, T!"
    assert wf.render("{0.__class__}", values) == "{0.__class__}"
    assert len(wf.render("{actor.name}" * 500, {"actor.name": "abcdef"})) == wf.MAX_RENDERED


@pytest.mark.parametrize(
    ("op", "value", "negate", "text", "expected"),
    [
        ("contains", "help", False, "Can someone HELP me?", True),
        ("contains", "help", False, "helpful people", False),
        ("contains", "help me", False, "please help  me", False),
        ("contains", "help me", False, "please, help me!", True),
        ("contains", "help", True, "helpful people", True),
        ("equals", "hi", False, "hi", True),
        ("equals", "hi", False, "Hi", False),
        ("in", ["a", "b"], False, "b", True),
        ("in", ["a", "b"], True, "b", False),
    ],
)
def test_conditions(op: str, value: Any, negate: bool, text: str, expected: bool) -> None:
    condition = wf.Condition(var="message.text", op=op, value=value, negate=negate)
    assert wf.holds(condition, {"message.text": text}) is expected


def test_a_workflow_matches_only_its_event_when_enabled_and_every_condition_holds() -> None:
    parsed = wf.Workflow.model_validate(
        workflow(
            "MessageStored",
            conditions=[
                {"var": "message.text", "op": "contains", "value": "deploy"},
                {"var": "actor.kind", "op": "equals", "value": "human"},
            ],
        )
    )
    human = {"message.text": "deploy now", "actor.kind": "human"}
    assert wf.matches(parsed, "MessageStored", human)
    assert not wf.matches(parsed, "UserJoined", human)
    assert not wf.matches(parsed, "MessageStored", {**human, "actor.kind": "ai"})
    assert not wf.matches(parsed.model_copy(update={"enabled": False}), "MessageStored", human)


# -- schema --------------------------------------------------------------------------------------------


def test_the_schema_accepts_the_readme_example_and_refuses_what_the_model_refuses() -> None:
    schema = wf.schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    good = {"workflows": [workflow(conditions=[{"var": "actor.kind", "op": "equals", "value": "human"}])]}
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({"workflows": [workflow("Nope")]})) != []
    assert schema["x-parley-variables"]["UserJoined"] == list(wf.VARIABLES["UserJoined"])
    assert schema["properties"]["webhook_secret"]["writeOnly"] is True


def test_the_workflows_extension_publishes_the_same_schema_as_its_config() -> None:
    assert workflows.extension.manifest.config_schema() == {
        k: v for k, v in wf.schema().items() if k not in ("$id", "x-parley-variables")
    }


# -- the extension on in-memory ports --------------------------------------------------------------------


def said(outputs: list[Envelope[Any]]) -> list[tuple[str, str, str | None, Any]]:
    """What reached members, whichever extension said it: (type, text, for whom, audience)."""
    return [
        (o.event_type, o.data.text, getattr(o.data, "participant_id", None), o.metadata.audience)
        for o in outputs
        if o.event_type in ("ExtensionMessageRequested", "ExtensionEphemeralRequested")
    ]


WELCOME_AS_WORKFLOW = {
    "id": "welcome",
    "trigger": {
        "event": "UserJoined",
        "conditions": [{"var": "actor.kind", "op": "equals", "value": "human"}],
    },
    "steps": [{"do": "post", "text": "Welcome {actor.name}!"}],
}


@pytest.mark.parametrize("private", [False, True])
def test_welcome_and_its_workflow_say_the_same_to_the_same_joins(private: bool) -> None:
    # Given welcome (default template) on one chat and the equivalent workflow on another
    step = "ephemeral" if private else "post"
    definition = {**WELCOME_AS_WORKFLOW, "steps": [{"do": step, "text": "Welcome {actor.name}!"}]}
    with_welcome = World({"welcome": {"private": private}}, welcome.extension)
    with_workflow = World({"workflows": {"workflows": [definition]}}, workflows.extension)
    joins = [("Bob", "human", 9), ("Ava", "ai", 10), ("Cleo", "human", 11)]

    # When the same people join both
    for name, kind, sequence in joins:
        welcome.extension.deliver(joined(with_welcome.chat, name, kind, sequence))
        workflows.extension.deliver(joined(with_workflow.chat, name, kind, sequence))

    # Then both said the same things to the same people (the AI greeted by neither)
    assert said(with_workflow.bus.published) == said(with_welcome.bus.published)
    assert [text for _, text, _, _ in said(with_welcome.bus.published)] == ["Welcome Bob!", "Welcome Cleo!"]
    # and the workflow's runs were reported, one per greeting
    assert [r.steps[0].outcome for r in runs(with_workflow.bus.published)] == ["ok", "ok"]


def test_a_redelivered_trigger_runs_the_workflow_once() -> None:
    world = World({"workflows": {"workflows": [WELCOME_AS_WORKFLOW]}}, workflows.extension)
    event = joined(world.chat)
    assert [workflows.extension.deliver(event) for _ in range(3)] == [True, False, False]
    assert len(runs(world.bus.published)) == 1


def test_a_step_needing_a_missing_capability_is_refused_and_recorded() -> None:
    # Given the workflows extension as if it lacked messages:write
    narrow: Extension[wf.WorkflowsConfig] = Extension(
        Manifest(
            **{
                **workflows.extension.manifest.model_dump(exclude={"config_model", "capabilities"}),
                "capabilities": frozenset({"events:emit", "workflows:run"}),
                "config_model": wf.WorkflowsConfig,
            }
        )
    )
    for trigger in workflows.TRIGGERS:
        narrow.on(trigger)(workflows.run_workflows)
    steps = [
        {"do": "post", "text": "hi"},
        {"do": "emit", "name": "greeted", "text": "{actor.name}"},
    ]
    world = World({"workflows": {"workflows": [workflow("UserJoined", *steps)]}}, narrow)

    # When Bob joins
    narrow.deliver(joined(world.chat))

    # Then the post was refused and recorded, the emit went ahead
    [run] = runs(world.bus.published)
    assert [(s.do, s.outcome) for s in run.steps] == [("post", "refused"), ("emit", "ok")]
    assert "messages:write" in run.steps[0].reason
    assert said(world.bus.published) == []
    [emitted] = [o.data for o in world.bus.published if o.event_type == "ExtensionEvent"]
    assert emitted.payload == {"workflow_id": "w1", "name": "greeted", "text": "Bob"}


def test_a_failing_webhook_is_recorded_failed_and_the_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a workflow whose webhook answers 500, then posts
    calls: list[tuple[str, Mapping[str, str]]] = []

    def transport(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        calls.append((url, headers))
        return 500

    monkeypatch.setattr(webhook, "post", transport)
    monkeypatch.setattr(workflows, "send", lambda *a, **k: webhook.send(*a, **k, transport=transport))
    steps = [{"do": "webhook", "url": "https://hooks.example.com/in"}, {"do": "post", "text": "after"}]
    config = {"webhook_secret": SECRET, "workflows": [workflow("UserJoined", *steps)]}
    world = World({"workflows": config}, workflows.extension)

    # When Bob joins
    workflows.extension.deliver(joined(world.chat))

    # Then one signed attempt, recorded as failed with the host only, and the post still went out
    [(_url, headers)] = calls
    assert headers["X-Parley-Workflow"] == "w1"
    assert headers["X-Parley-Signature"].startswith("t=")
    [run] = runs(world.bus.published)
    assert [(s.do, s.outcome) for s in run.steps] == [("webhook", "failed"), ("post", "ok")]
    assert "hooks.example.com answered 500" in run.steps[0].reason
    assert [text for _, text, _, _ in said(world.bus.published)] == ["after"]


def test_a_webhook_to_a_private_address_is_refused_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflows, "send", lambda *a, **k: pytest.fail("no call to a private address"))
    monkeypatch.setattr(workflows, "settings", lambda: type("S", (), {"webhook_allow_http": False})())
    config = {
        "webhook_secret": SECRET,
        "workflows": [workflow("UserJoined", {"do": "webhook", "url": "https://10.0.0.1/x"})],
    }
    world = World({"workflows": config}, workflows.extension)
    workflows.extension.deliver(joined(world.chat))
    [run] = runs(world.bus.published)
    assert run.steps[0].outcome == "refused"
    assert "private" in run.steps[0].reason


def shadowed(world: World, extension_id: str, config: dict[str, Any]) -> None:
    """The install in shadow mode: it runs on live events, its outputs are only recorded."""
    world.chat = installs.put_install(
        world.chat,
        user_id=OWNER,
        extension_id=extension_id,
        version="1",
        enabled=True,
        config=config,
        now=at(2),
        shadow=True,
    ).chat


def test_a_shadow_install_sends_no_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflows, "send", lambda *a, **k: pytest.fail("a shadow install posted live"))
    monkeypatch.setattr(webhook, "post", lambda *a, **k: pytest.fail("a shadow install posted live"))
    hook = {"do": "webhook", "url": "https://hooks.example.com/in"}
    config = {"webhook_secret": SECRET, "workflows": [workflow("UserJoined", hook)]}
    forwarding = {"url": "https://hooks.example.com/in", "secret": SECRET, "events": ["UserJoined"]}
    world = World({"workflows": config, "webhook": forwarding}, workflows.extension, webhook.extension)
    shadowed(world, "workflows", config)
    shadowed(world, "webhook", forwarding)
    # When Bob joins, the workflow's webhook step and the webhook extension both hold back
    event = joined(world.chat)
    workflows.extension.deliver(event)
    webhook.extension.deliver(event)
    [run] = runs(world.bus.published)
    assert [(s.do, s.outcome, s.reason) for s in run.steps] == [("webhook", "refused", "shadow")]


def test_a_recorded_run_is_for_moderators_only() -> None:
    reported = WorkflowRunReported(
        extension_id="workflows",
        workflow_id="w1",
        trigger_event_id="e",
        trigger_event_type="UserJoined",
        steps=(),
    )
    outcome = wf.record_run(new_chat("free"), reported)
    [run] = outcome.events
    assert isinstance(run, WorkflowRun)
    assert run.workflow_id == "w1"
    assert outcome.audience == "moderators"


def test_a_bots_message_never_starts_a_workflow() -> None:
    # Given a workflow that answers "help" with a text saying "help"
    helper = workflow(
        "MessageStored",
        {"do": "post", "text": "help is on the way"},
        conditions=[{"var": "message.text", "op": "contains", "value": "help"}],
    )
    world = World({"workflows": {"workflows": [helper]}}, workflows.extension)
    person = message_event("help", world.chat)
    bot = person.model_copy(
        update={
            "data": person.data.model_copy(
                update={"message": person.data.message.model_copy(update={"sender_kind": "extension"})}
            )
        }
    )

    # When a person's message and then a bot's (its own answer) arrive
    workflows.extension.deliver(
        {"source": CORE_SOURCE, "detail-type": "MessageStored", "detail": person.to_detail()}
    )
    world.bus.published.clear()
    bot = bot.model_copy(
        update={"metadata": bot.metadata.model_copy(update={"event_id": "e-bot", "sequence": 8})}
    )
    workflows.extension.deliver(
        {"source": CORE_SOURCE, "detail-type": "MessageStored", "detail": bot.to_detail()}
    )

    # Then only the person's started it: no loop
    assert world.bus.published == []
    assert not wf.may_trigger(bot)
    assert wf.may_trigger(person)


def test_the_core_refuses_a_run_reported_by_an_extension_without_workflows_run() -> None:
    # Given a chat where both the webhook and the workflows extensions are enabled
    chat = World({"webhook": {}, "workflows": {}}).chat
    reported = WorkflowRunReported(
        extension_id="webhook",
        workflow_id="w1",
        trigger_event_id="e",
        trigger_event_type="UserJoined",
        steps=(),
    )

    def sent_by(extension: Extension[Any]) -> Envelope[Any]:
        data = reported.model_copy(update={"extension_id": extension.id})
        return new_event(data, chat_id=chat.chat_id, actor=extension.actor)

    # When each reports a run, Then only the one holding `workflows:run` is believed
    forged = sent_by(webhook.extension)
    assert refusal(forged, forged.source, webhook.extension.manifest.document(), chat) == (
        "missing_capability: WorkflowRunReported needs workflows:run"
    )
    real = sent_by(workflows.extension)
    assert refusal(real, real.source, workflows.extension.manifest.document(), chat) is None


# -- schedules -----------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 8, 7, tzinfo=UTC)


def scheduled_workflow(schedule: dict[str, Any], *steps: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": extra.pop("id", "daily"),
        "trigger": {"schedule": schedule, **extra},
        "steps": list(steps)
        or [{"do": "post", "text": "Stand-up in {chat.title}, {schedule.date} {schedule.at}"}],
    }


def test_a_schedule_trigger_is_valid_in_the_model_and_in_the_schema() -> None:
    config = {
        "workflows": [scheduled_workflow({"every_minutes": 15}, id="a"), scheduled_workflow({"at": "09:30"})]
    }
    assert wf.problems(config) == []
    assert list(Draft202012Validator(wf.schema()).iter_errors(config)) == []
    assert wf.schema()["x-parley-variables"]["schedule"] == list(wf.VARIABLES["schedule"])


@pytest.mark.parametrize(
    ("trigger", "steps", "field"),
    [
        ({"schedule": {"every_minutes": 0}}, (), "config.workflows.0.trigger.schedule.every_minutes"),
        (
            {"schedule": {"every_minutes": wf.MAX_EVERY_MINUTES + 1}},
            (),
            "config.workflows.0.trigger.schedule.every_minutes",
        ),
        ({"schedule": {"at": "24:00"}}, (), "config.workflows.0.trigger.schedule.at"),
        ({"schedule": {"at": "9:30"}}, (), "config.workflows.0.trigger.schedule.at"),
        ({"schedule": {}}, (), "config.workflows.0.trigger.schedule.every_minutes"),
        (
            {"schedule": {"at": "09:00", "every_minutes": 5}},
            (),
            "config.workflows.0.trigger.schedule.every_minutes",
        ),
        ({"schedule": {"at": "09:00", "cron": "* * * * *"}}, (), "config.workflows.0.trigger.schedule.cron"),
        ({"schedule": {"at": "09:00"}, "event": "UserJoined"}, (), "config.workflows.0.trigger.event"),
        (
            {"schedule": {"at": "09:00"}},
            ({"do": "post", "text": "Hi {actor.name}"},),
            "config.workflows.0.steps.0.text",
        ),
        (
            {"schedule": {"at": "09:00"}},
            ({"do": "ephemeral", "text": "Hi"},),
            "config.workflows.0.steps.0.do",
        ),
    ],
)
def test_a_bad_schedule_names_the_bad_field(trigger: dict[str, Any], steps: Any, field: str) -> None:
    definition = {"id": "w1", "trigger": trigger, "steps": list(steps) or [{"do": "post", "text": "x"}]}
    assert field in fields({"workflows": [definition]})


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        (
            {"every_minutes": 1},
            datetime(2026, 3, 2, 8, 7, 59, tzinfo=UTC),
            datetime(2026, 3, 2, 8, 7, tzinfo=UTC),
        ),
        (
            {"every_minutes": 15},
            datetime(2026, 3, 2, 8, 14, 59, tzinfo=UTC),
            datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        ),
        (
            {"every_minutes": 15},
            datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
            datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
        ),
        (
            {"every_minutes": 60},
            datetime(2026, 3, 2, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
        ),
        ({"at": "09:30"}, datetime(2026, 3, 2, 9, 29, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ({"at": "09:30"}, datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        ({"at": "00:00"}, datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_slot_at_a_time_is_the_latest_that_began(
    schedule: dict[str, Any], now: datetime, slot: datetime
) -> None:
    assert wf.slot_at(wf.Schedule.model_validate(schedule), now) == slot


def test_a_slot_is_due_once_after_the_save_and_a_missed_stretch_runs_only_its_last_slot() -> None:
    every_15 = wf.Schedule(every_minutes=15)
    # saved at 08:07: the 08:00 slot began before it, so nothing is due until 08:15
    assert wf.due_slot(every_15, T0, T0 + timedelta(minutes=7)) is None
    assert wf.due_slot(every_15, T0, T0 + timedelta(minutes=8)) == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    # the 08:15 slot ran: nothing more until 08:30
    ran = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert wf.due_slot(every_15, ran, ran + timedelta(minutes=14)) is None
    # down from 08:16 to 11:02: of the eleven slots missed, the 11:00 one alone is due, once
    late = datetime(2026, 3, 2, 11, 2, tzinfo=UTC)
    assert wf.due_slot(every_15, ran, late) == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert wf.due_slot(every_15, datetime(2026, 3, 2, 11, 0, tzinfo=UTC), late) is None


def configured(
    chat: Chat, config: dict[str, Any], occurred_at: datetime, sequence: int = 20
) -> dict[str, Any]:
    data = ExtensionConfigChanged(extension_id="workflows", config=config)
    envelope = new_event(
        data, chat_id=chat.chat_id, actor=Actor(id=OWNER, kind="user", name="Owner"), occurred_at=occurred_at
    )
    return {
        "source": CORE_SOURCE,
        "detail-type": data.event_type,
        "detail": envelope.with_sequence(sequence).to_detail(),
    }


def scheduled_world(config: dict[str, Any]) -> World:
    world = World({"workflows": config}, workflows.extension)
    workflows.extension.deliver(configured(world.chat, config, T0))
    return world


def index_of(world: World) -> dict[str, Any]:
    store = world.stores.get(("workflows", SHARED_SCOPE))
    return store.values if store else {}


def test_a_tick_runs_a_due_slot_once_however_often_it_ticks() -> None:
    # Given a chat whose workflow runs every 15 minutes, saved at 08:07
    world = scheduled_world({"workflows": [scheduled_workflow({"every_minutes": 15})]})
    assert index_of(world) == {
        f"chat#{world.chat.chat_id}": {"daily": {"schedule": {"every_minutes": 15}, "last": T0.isoformat()}}
    }

    # When ticks come at 08:14, twice at 08:15 (overlapping), and at 08:16
    outcomes = [workflows.extension.tick(now=T0 + timedelta(minutes=m)) for m in (7, 8, 8, 9)]

    # Then the 08:15 slot ran once, as a post with the slot's variables, and its run was reported
    assert outcomes == [{}, {"ran": 1}, {}, {}]
    assert [text for _, text, _, _ in said(world.bus.published)] == [
        f"Stand-up in {world.chat.title}, 2026-03-02 08:15"
    ]
    [report] = runs(world.bus.published)
    assert (report.workflow_id, report.trigger_event_type, report.trigger_sequence) == (
        "daily",
        "ScheduleReached",
        None,
    )
    # and a tick that finds the slot claimed but its index row stale (a crash between) runs nothing
    index = world.stores[("workflows", SHARED_SCOPE)]
    key = f"chat#{world.chat.chat_id}"
    index.put(key, {"daily": {"schedule": {"every_minutes": 15}, "last": T0.isoformat()}})
    assert workflows.extension.tick(now=T0 + timedelta(minutes=9)) == {"duplicate": 1}
    assert len(runs(world.bus.published)) == 1


def test_a_disabled_install_runs_nothing_and_drops_from_the_index() -> None:
    world = scheduled_world({"workflows": [scheduled_workflow({"at": "09:00"})]})
    key = f"chat#{world.chat.chat_id}"
    # disabled without its life-cycle event reaching the extension yet: the tick finds it gone
    world.chat = installs.put_install(
        world.chat,
        user_id=OWNER,
        extension_id="workflows",
        version="1",
        enabled=False,
        config=world.chat.extensions["workflows"].config,
        now=at(2),
    ).chat
    index = world.stores[("workflows", SHARED_SCOPE)]
    ttls: list[int | None] = []
    real_update = index.update

    def update(key: str, change: Any, *, ttl_seconds: int | None = None) -> Any:
        ttls.append(ttl_seconds)
        return real_update(key, change, ttl_seconds=ttl_seconds)

    index.update = update  # type: ignore[method-assign]
    assert workflows.extension.tick(now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) == {"gone": 1}
    assert world.bus.published == []
    assert index_of(world)[key] == {}
    assert ttls == [workflows.FORGET_SECONDS]  # emptied to expire: the tick's Query reads it no more
    assert workflows.extension.tick(now=datetime(2026, 3, 3, 9, 0, tzinfo=UTC)) == {}


def test_an_overlapping_tick_leaves_a_held_slot_to_run_again_if_its_run_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a daily workflow at 08:15 whose run, by the tick at 08:15, outlasts the minute and fails
    world = scheduled_world({"workflows": [scheduled_workflow({"at": "08:15"})]})
    real_run, inner = workflows.run, list[dict[str, int]]()

    def slow_then_fail(*args: Any) -> None:
        if not inner:  # the next minute's tick comes while this run still holds the slot
            inner.append(workflows.extension.tick(now=T0 + timedelta(minutes=9)))
            raise RuntimeError("the run failed after the next tick came")
        real_run(*args)

    monkeypatch.setattr(workflows, "run", slow_then_fail)
    with pytest.raises(TickFailedError):
        workflows.extension.tick(now=T0 + timedelta(minutes=8))

    # Then the overlapping tick saw the slot held and left the index alone, so the next tick runs it
    assert inner == [{"held": 1}]
    assert index_of(world)[f"chat#{world.chat.chat_id}"]["daily"]["last"] == T0.isoformat()
    assert workflows.extension.tick(now=T0 + timedelta(minutes=10)) == {"ran": 1}
    assert len(runs(world.bus.published)) == 1
    assert workflows.extension.tick(now=T0 + timedelta(minutes=11)) == {}


def test_a_life_cycle_event_rewrites_the_index_from_the_current_config() -> None:
    world = scheduled_world({"workflows": [scheduled_workflow({"at": "09:00"})]})
    key = f"chat#{world.chat.chat_id}"
    # an unchanged schedule keeps its last slot when the config is saved again
    workflows.extension.tick(now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    later = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    workflows.extension.deliver(configured(world.chat, {}, later, sequence=21))
    assert index_of(world)[key]["daily"]["last"] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC).isoformat()
    # a config without schedules empties the row
    world.chat = installs.put_install(
        world.chat,
        user_id=OWNER,
        extension_id="workflows",
        version="1",
        enabled=True,
        config={"workflows": [WELCOME_AS_WORKFLOW]},
        now=at(3),
    ).chat
    workflows.extension.deliver(configured(world.chat, {}, later, sequence=22))
    assert index_of(world)[key] == {}


def test_the_schedules_invoke_ticks_for_the_time_it_names() -> None:
    # Given a workflow that runs every 15 minutes, saved at 08:07
    world = scheduled_world({"workflows": [scheduled_workflow({"every_minutes": 15})]})
    # When EventBridge Scheduler invokes the function for 08:15 (whenever the invoke really runs)
    assert workflows.extension.lambda_handler({TICK_KEY: "2026-03-02T08:15:00Z"}) == {"ran": 1}
    # Then the 08:15 slot ran; a time without its zone is refused
    assert [text for _, text, _, _ in said(world.bus.published)] == [
        f"Stand-up in {world.chat.title}, 2026-03-02 08:15"
    ]
    with pytest.raises(ValueError, match="zone"):
        workflows.extension.lambda_handler({TICK_KEY: "2026-03-02T08:30:00"})


def test_the_readmes_scheduled_workflow_is_valid() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Scheduled workflows", 1)[1]
    example = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    assert wf.problems({"workflows": [example]}) == []
    assert example["trigger"]["schedule"] == {"at": "09:00"}


def test_a_failed_scheduled_run_is_reported_and_runs_again_on_the_next_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a scheduled workflow whose run fails once (as a hung or broken step would)
    world = scheduled_world({"workflows": [scheduled_workflow({"every_minutes": 15})]})
    real_run = workflows.run
    calls: list[str] = []

    def flaky(*args: Any) -> None:
        calls.append("run")
        if len(calls) == 1:
            raise RuntimeError("boom")
        real_run(*args)

    monkeypatch.setattr(workflows, "run", flaky)

    # When the 08:15 slot is ticked: the tick fails (the invoke counts as an error) after reporting it
    with pytest.raises(TickFailedError, match="1 scheduled runs"):
        workflows.extension.tick(now=T0 + timedelta(minutes=8))

    # Then the failure counts towards the circuit breaker, nothing was said, and the next tick runs it
    assert [o.event_type for o in world.bus.published] == ["ExtensionFailed"]
    assert workflows.extension.tick(now=T0 + timedelta(minutes=9)) == {"ran": 1}
    assert len(runs(world.bus.published)) == 1
