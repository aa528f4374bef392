"""Per-chat workflows: a trigger (an event with conditions on its data, or a schedule) and steps, as
validated data.

A chat's moderators write them as the `workflows` extension's config (validated when saved, by the
JSON Schema that ``GET /workflows/schema`` serves and by the rules a schema cannot say: which
variables each trigger offers). Templates are filled by plain substitution of ``{a.b}`` names from a
fixed table, never ``str.format`` or an expression language: a moderator's text runs no code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from parley.catalog import (
    Envelope,
    MessageStored,
    ScheduleReached,
    TurnChanged,
    TurnMode,
    UserJoined,
    UserLeft,
    WorkflowRun,
    WorkflowRunReported,
)
from parley.domain.audience import MODERATORS
from parley.domain.model import MAX_MESSAGE_LENGTH, Chat, Outcome

MAX_WORKFLOWS = 5
"""Per chat: each matching workflow is one run (and one WorkflowRun event) per trigger event. With the
bounds below a config's worst case (every character escaped) stays under 64 KiB, so no config can
make an install event the bus refuses (tests/unit/test_extension_config_bounds.py)."""
MAX_STEPS = 3
MAX_CONDITIONS = 3
MAX_WEBHOOK_STEPS = 2
"""In a chat's whole config: webhook calls are the slow steps, and one event's runs share the
extension's 10 s handler deadline (one attempt of at most 3 s each)."""
MAX_TEMPLATE = 300
MAX_RENDERED = 2000
"""A rendered text is cut here: a variable such as ``{message.text}`` may be long."""
MAX_VALUE = 100
MAX_CHOICES = 5
MAX_CHOICE = 40
MAX_URL = 300
REASON_LENGTH = 200
MAX_EVERY_MINUTES = 10080
"""A week: a longer period is a daily ``at`` a moderator can reason about better."""

TriggerEvent = Literal["UserJoined", "UserLeft", "MessageStored", "TurnChanged"]
COMMON = ("actor.id", "actor.name", "chat.id", "chat.title", "event.type", "event.sequence")
VARIABLES: dict[str, tuple[str, ...]] = {
    "UserJoined": (*COMMON, "actor.kind", "actor.role"),
    "UserLeft": (*COMMON, "left.reason"),
    "MessageStored": (*COMMON, "actor.kind", "message.id", "message.text"),
    "TurnChanged": (*COMMON, "turn.reason", "turn.number", "turn.previous_id"),
    "schedule": ("chat.id", "chat.title", "event.type", "schedule.at", "schedule.date"),
}
"""What each trigger offers a template or a condition; ``actor`` is the person the event is about
(who joined or left, who wrote, who holds the floor). A schedule has no actor: ``schedule.at`` and
``schedule.date`` are its slot's time (``HH:MM``) and day (``YYYY-MM-DD``), in UTC."""
SCHEDULE = "schedule"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _frozen() -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Condition(BaseModel):
    """One test on the trigger's data; a trigger's conditions must all hold."""

    model_config = _frozen()

    var: str = Field(max_length=40, description="A variable of the trigger, e.g. `message.text`.")
    op: Literal["equals", "contains", "in"] = Field(
        description="`equals`: the same text; `contains`: has `value` as a whole word or phrase, "
        "ignoring case; `in`: equals one of `value`'s texts."
    )
    value: (
        Annotated[str, Field(min_length=1, max_length=MAX_VALUE)]
        | Annotated[
            list[Annotated[str, Field(max_length=MAX_CHOICE)]], Field(min_length=1, max_length=MAX_CHOICES)
        ]
    ) = Field(description="A text (`equals`, `contains`), or a list of texts (`in`).")
    negate: bool = Field(False, description="`not`: the condition holds when the test fails.")

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if isinstance(self.value, list) != (self.op == "in"):
            raise ValueError("`in` takes a list of texts; `equals` and `contains` a text")
        return self


class Schedule(BaseModel):
    """When a scheduled workflow runs, in UTC: every ``every_minutes`` (slots aligned on the epoch, so
    ``60`` is on the hour) or daily ``at``. A slot missed while nothing ran runs once, late."""

    model_config = _frozen()

    every_minutes: int | None = Field(
        None, ge=1, le=MAX_EVERY_MINUTES, description="Run every this many minutes (1 to 10080, a week)."
    )
    at: str | None = Field(
        None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        max_length=5,
        description="Run daily at this time, `HH:MM` in UTC.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.every_minutes is None) == (self.at is None):
            _refuse([(("every_minutes",), "give exactly one of every_minutes and at")])
        return self


class Trigger(BaseModel):
    """An event (with conditions on its data) or a schedule: exactly one of `event` and `schedule`."""

    model_config = _frozen()

    event: TriggerEvent | None = Field(None, description="The event type that starts the workflow.")
    schedule: Schedule | None = Field(None, description="Or when it runs, with no event (and no actor).")
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if (self.event is None) == (self.schedule is None):
            _refuse([(("event",), "give exactly one of event and schedule")])
        return self

    @property
    def offers(self) -> str:
        """The key of ``VARIABLES`` this trigger offers."""
        return self.event or SCHEDULE


Template = Annotated[str, Field(max_length=MAX_TEMPLATE)]


class PostStep(BaseModel):
    """Post ``text`` as the workflows bot, for every member (needs `messages:write`)."""

    model_config = _frozen()
    do: Literal["post"]
    text: Template = Field(min_length=1)


class EphemeralStep(BaseModel):
    """Show ``text`` to the event's actor alone (needs `messages:ephemeral`)."""

    model_config = _frozen()
    do: Literal["ephemeral"]
    text: Template = Field(min_length=1)


class WebhookStep(BaseModel):
    """POST the trigger event, signed with the config's `webhook_secret`, as the webhook extension does."""

    model_config = _frozen()
    do: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$", max_length=MAX_URL)


class EmitStep(BaseModel):
    """Emit `workflows.emitted` for other extensions: ``{"workflow_id", "name", "text"}``, ``text``
    rendered (needs `events:emit`)."""

    model_config = _frozen()
    do: Literal["emit"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", max_length=40)
    text: Template = ""


class GiveFloorStep(BaseModel):
    """Give the floor to ``to`` by the rule a moderator's grant follows: in a moderated chat, to a
    member (needs `turns:give`); otherwise the step is refused, saying why."""

    model_config = _frozen()
    do: Literal["give_floor"]
    to: Template = Field(
        "{actor.id}",
        min_length=1,
        description="The member's id, or a variable that names one: `{actor.id}` (the default), "
        "`{turn.previous_id}`.",
    )


class SettingChanges(BaseModel):
    """The settings a workflow may change, each bounded as in PATCH /chats/{chat_id}/settings: how the
    chat talks, never who is in it, their roles, its extensions or the moderation fallback."""

    model_config = _frozen()

    turn_mode: TurnMode | None = None
    turn_timeout_seconds: int | None = Field(None, ge=5, le=86_400)
    max_message_length: int | None = Field(None, ge=1, le=MAX_MESSAGE_LENGTH)
    rate_limit_messages: int | None = Field(None, ge=1, le=10_000)
    rate_limit_window_seconds: int | None = Field(None, ge=1, le=3600)

    @model_validator(mode="after")
    def _some(self) -> SettingChanges:
        if not self.changes():
            raise ValueError("name at least one setting to change")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ChangeSettingStep(BaseModel):
    """Change chat settings as a moderator would, e.g. ``{"turn_mode": "moderated"}`` (needs
    `settings:write`); a change the chat refuses (it is completed) is refused, saying why."""

    model_config = _frozen()
    do: Literal["change_setting"]
    settings: SettingChanges


Step = Annotated[
    PostStep | EphemeralStep | WebhookStep | EmitStep | GiveFloorStep | ChangeSettingStep,
    Field(discriminator="do"),
]
STEP_KINDS = ("post", "ephemeral", "webhook", "emit", "give_floor", "change_setting")


class Workflow(BaseModel):
    model_config = _frozen()

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", max_length=40, description="Unique in the chat.")
    name: str = Field("", max_length=60)
    enabled: bool = True
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _known_variables(self) -> Workflow:
        _refuse(variable_problems(self))
        return self


class WorkflowsConfig(BaseModel):
    """The `workflows` extension's config on one chat: its workflows, and the key webhook steps sign with."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    workflows: list[Workflow] = Field(default_factory=list, max_length=MAX_WORKFLOWS)
    webhook_secret: SecretStr | None = Field(
        None,
        min_length=16,
        max_length=256,
        json_schema_extra={"writeOnly": True},
        description="The HMAC-SHA256 key webhook steps sign with (as the webhook extension's `secret`). "
        "Write-only: members read `********`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowsConfig:
        _refuse(config_rules(self))
        return self


Path = tuple[str | int, ...]
RULE = "workflow_rule"


def _refuse(problems: list[tuple[Path, str]]) -> None:
    """A rule broken inside the model, with each bad field's path (``problems`` reads them)."""
    if problems:
        summary = "; ".join(f"{'.'.join(map(str, path))}: {why}" for path, why in problems)
        raise PydanticCustomError(RULE, "{summary}", {"summary": summary, "problems": problems})


def templates(step: BaseModel) -> Iterable[tuple[Path, str]]:
    """Each template of a step, with its path inside the step."""
    if isinstance(step, PostStep | EphemeralStep | EmitStep):
        yield ("text",), step.text
    elif isinstance(step, GiveFloorStep):
        yield ("to",), step.to


def variable_problems(workflow: Workflow) -> list[tuple[Path, str]]:
    """Every variable a workflow names that its trigger does not offer, with where it is."""
    known = VARIABLES[workflow.trigger.offers]
    problems: list[tuple[Path, str]] = []
    for n, condition in enumerate(workflow.trigger.conditions):
        if condition.var not in known:
            problems.append((("trigger", "conditions", n, "var"), _unknown(condition.var, workflow)))
    for n, step in enumerate(workflow.steps):
        for path, text in templates(step):
            problems += [
                (("steps", n, *path), _unknown(name, workflow))
                for name in PLACEHOLDER.findall(text)
                if name not in known
            ]
        if step.do == "ephemeral" and workflow.trigger.schedule is not None:
            problems.append((("steps", n, "do"), "a schedule has no actor to show an ephemeral message to"))
    return problems


def _unknown(name: str, workflow: Workflow) -> str:
    offered = ", ".join(VARIABLES[workflow.trigger.offers])
    return f"unknown variable {{{name}}} for {workflow.trigger.offers} (it offers {offered})"


def config_rules(config: WorkflowsConfig) -> list[tuple[Path, str]]:
    """What the config breaks beyond each workflow: unique ids, the webhook bound and its secret."""
    problems: list[tuple[Path, str]] = []
    seen: set[str] = set()
    webhooks: list[Path] = []
    for n, workflow in enumerate(config.workflows):
        if workflow.id in seen:
            problems.append((("workflows", n, "id"), f"another workflow has the id {workflow.id!r}"))
        seen.add(workflow.id)
        webhooks += [
            ("workflows", n, "steps", s) for s, st in enumerate(workflow.steps) if st.do == "webhook"
        ]
    if len(webhooks) > MAX_WEBHOOK_STEPS:
        problems.append(
            (webhooks[MAX_WEBHOOK_STEPS], f"a chat's workflows call at most {MAX_WEBHOOK_STEPS} webhooks")
        )
    if webhooks and config.webhook_secret is None:
        problems.append((("webhook_secret",), "webhook steps need a webhook_secret to sign with"))
    return problems


def problems(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every way ``config`` is not a valid workflows config: ``{"field": "config.<path>", "problem"}``,
    the path naming the bad field (what a 422 ``invalid_config`` carries)."""
    try:
        WorkflowsConfig.model_validate(dict(config))
    except ValidationError as exc:
        found: list[dict[str, str]] = []
        for error in exc.errors(include_url=False):
            where = _without_tags(tuple(error["loc"]))
            if error["type"] == RULE:
                found += [_entry((*where, *path), why) for path, why in error["ctx"]["problems"]]
            else:
                found.append(_entry(where, error["msg"]))
        return found
    return []


def _without_tags(loc: Path) -> Path:
    """``steps.0.post.text`` -> ``steps.0.text``: pydantic names the union's member, the config does not."""
    return tuple(p for i, p in enumerate(loc) if not (i >= 2 and loc[i - 2] == "steps" and p in STEP_KINDS))


def _entry(path: Path, why: str) -> dict[str, str]:
    return {"field": ".".join(str(p) for p in ("config", *path)), "problem": why}


def schema() -> dict[str, Any]:
    """The JSON Schema of a chat's workflows config (``GET /workflows/schema``)."""
    document = WorkflowsConfig.model_json_schema()
    document["$id"] = "https://parley.dev/schemas/workflows.json"
    document["x-parley-variables"] = {event: list(names) for event, names in VARIABLES.items()}
    return document


# -- running -----------------------------------------------------------------------------------------


def variables(event: Envelope[Any], chat: Chat) -> dict[str, str]:
    """The trigger's variables as text: what templates and conditions may name."""
    meta = event.metadata
    values = {
        "actor.id": meta.actor.id,
        "actor.name": meta.actor.name or meta.actor.id,
        "chat.id": chat.chat_id,
        "chat.title": chat.title,
        "event.type": event.event_type,
        "event.sequence": "" if meta.sequence is None else str(meta.sequence),
    }
    about = _ABOUT.get(event.event_type)
    if about is not None:
        values.update(about(event.data, chat))
    return values


def _joined(data: UserJoined, chat: Chat) -> dict[str, str]:
    p = data.participant
    return {"actor.id": p.id, "actor.name": p.name, "actor.kind": p.kind, "actor.role": p.role}


def _left(data: UserLeft, chat: Chat) -> dict[str, str]:
    return {
        "actor.id": data.participant_id,
        "actor.name": _name(chat, data.participant_id),
        "left.reason": data.reason,
    }


def _stored(data: MessageStored, chat: Chat) -> dict[str, str]:
    m = data.message
    return {
        "actor.id": m.sender_id,
        "actor.name": m.sender_name,
        "actor.kind": m.sender_kind,
        "message.id": m.message_id,
        "message.text": m.text,
    }


def _turned(data: TurnChanged, chat: Chat) -> dict[str, str]:
    holder = data.holder_id or ""
    return {
        "actor.id": holder,
        "actor.name": _name(chat, holder) if holder else "",
        "turn.reason": data.reason,
        "turn.number": str(data.turn_number),
        "turn.previous_id": data.previous_holder_id or "",
    }


def _name(chat: Chat, participant_id: str) -> str:
    """A member's name; someone who left is no longer in the roster: then their id."""
    found = next((p for p in chat.participants if p.id == participant_id), None)
    return found.name if found else participant_id


def _reached(data: ScheduleReached, chat: Chat) -> dict[str, str]:
    slot = data.slot.astimezone(UTC)
    return {
        "actor.id": "",
        "actor.name": "",
        "schedule.at": slot.strftime("%H:%M"),
        "schedule.date": slot.strftime("%Y-%m-%d"),
    }


_ABOUT: dict[str, Callable[[Any, Chat], dict[str, str]]] = {
    "ScheduleReached": _reached,
    "UserJoined": _joined,
    "UserLeft": _left,
    "MessageStored": _stored,
    "TurnChanged": _turned,
}


def render(template: str, values: Mapping[str, str], *, limit: int = MAX_RENDERED) -> str:
    """Fill ``{a.b}`` names from ``values`` (one pass: a value's own braces stay text); cut at ``limit``."""
    filled = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    return filled[:limit]


def holds(condition: Condition, values: Mapping[str, str]) -> bool:
    actual = values.get(condition.var, "")
    if condition.op == "in":
        result = actual in condition.value
    elif condition.op == "equals":
        result = actual == condition.value
    else:
        word = re.escape(str(condition.value).casefold())
        result = re.search(rf"(?<!\w){word}(?!\w)", actual.casefold()) is not None
    return result != condition.negate


def may_trigger(event: Envelope[Any]) -> bool:
    """A bot's message never starts a workflow: a workflow answering "help" with a text that says
    "help" (or two bots answering each other) would otherwise run for ever."""
    return not (isinstance(event.data, MessageStored) and event.data.message.sender_kind == "extension")


def matches(workflow: Workflow, event_type: str, values: Mapping[str, str]) -> bool:
    """Does this event start this workflow?"""
    trigger = workflow.trigger
    if not workflow.enabled or trigger.event != event_type:
        return False
    return all(holds(c, values) for c in trigger.conditions)


def scheduled(config: WorkflowsConfig) -> dict[str, Schedule]:
    """The enabled workflows that run on a schedule, by id: what the extension's tick index holds."""
    return {
        w.id: w.trigger.schedule for w in config.workflows if w.enabled and w.trigger.schedule is not None
    }


def slot_at(schedule: Schedule, now: datetime) -> datetime:
    """The start of the latest slot at or before ``now``."""
    if schedule.every_minutes is not None:
        period = schedule.every_minutes * 60
        return datetime.fromtimestamp(int(now.timestamp()) // period * period, UTC)
    hour, minute = (int(part) for part in (schedule.at or "00:00").split(":"))
    today = now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if today <= now else today - timedelta(days=1)


def due_slot(schedule: Schedule, last: datetime, now: datetime) -> datetime | None:
    """The slot to run now: the latest one, if it began after ``last`` (the last slot run, or when the
    workflow was saved). Older slots missed meanwhile never run: a stack down for hours runs the
    latest slot once, late, not one run per missed slot."""
    slot = slot_at(schedule, now)
    return slot if slot > last else None


def record_run(chat: Chat, reported: WorkflowRunReported) -> Outcome:
    """Record a run the workflows extension reported, for the chat's moderators only."""
    run = WorkflowRun.model_validate(reported.model_dump())
    return Outcome(chat=chat, events=(run,), audience=MODERATORS)
