"""`workflows`: runs the chat's workflows (its config, ``parley.domain.workflows``) on their trigger events.

An ordinary event consumer, on the platform's rules: every step goes through the SDK, so a step
needing a capability this extension lacks is refused (and recorded, not raised); what it asks of the
core (bot messages, ephemeral messages, events) passes the core's checks and rate limits; its
failures count towards its circuit breaker; a redelivered trigger runs nothing twice (the SDK's
delivery claim). Each run is reported as WorkflowRunReported, which the core records as WorkflowRun
for the chat's moderators. A step that fails (a webhook that does not answer 2xx) is recorded as
failed and the run goes on: it is the chat's configuration, not this extension, that is broken.

Scheduled workflows run from the extension's tick, once a minute. It reads one index (its rows that
belong to no chat, ``chat#<chat id>``: each scheduled workflow's schedule and the last slot it ran),
never every chat: the index is rewritten from the chat's current config on each of the extension's
life-cycle events there (installed, configured, enabled, disabled, uninstalled), and a chat found
gone when a slot is due (disabled, uninstalled, completed) is emptied from it. Each due slot runs
through ``Tick.run``, whose claim makes a slot run once however often it is ticked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from parley.catalog import Envelope, ScheduleReached, StepOutcome, WorkflowRunReported
from parley.domain.commands import floor_taker, settings_after
from parley.domain.workflows import (
    REASON_LENGTH,
    ChangeSettingStep,
    EmitStep,
    EphemeralStep,
    GiveFloorStep,
    PostStep,
    Schedule,
    Step,
    WebhookStep,
    Workflow,
    WorkflowsConfig,
    due_slot,
    holds,
    matches,
    may_trigger,
    render,
    scheduled,
    slot_at,
    variables,
)
from parley.errors import ParleyError
from parley.extensions.builtin.webhook import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    DeliveryError,
    Retry,
    send,
    url_problem,
)
from parley.extensions.manifest import LIFECYCLE_EVENTS, Manifest
from parley.extensions.sdk import CapabilityError, Context, Extension, Tick
from parley.extensions.store import Backend
from parley.settings import settings

TRIGGERS = ("UserJoined", "UserLeft", "MessageStored", "TurnChanged")
EMITTED = "workflows.emitted"
WORKFLOW_HEADER = "X-Parley-Workflow"
WEBHOOK_RETRY = Retry(attempts=1, timeout_seconds=3.0)
"""One attempt each: a chat's webhook steps (at most 2) share one handler run's 10 s deadline."""
INDEX = "chat#"
"""Keys of the tick's index rows (``Tick.shared``): ``chat#<chat id>`` ->
``{workflow id: {"schedule": {...}, "last": <ISO time>}}``, ``last`` the start of the last slot run
(or when the schedule was saved: no slot before it runs)."""
FORGET_SECONDS = 2 * 24 * 3600
"""An index row emptied by a life-cycle event expires (DynamoDB TTL) after this."""

extension: Extension[WorkflowsConfig] = Extension(
    Manifest(
        id="workflows",
        version="1.0.0",
        name="Workflows",
        description="Runs the chat's workflows: on an event, when its conditions hold, their steps.",
        events=TRIGGERS,
        emits=(EMITTED,),
        capabilities=frozenset(
            {
                "messages:write",
                "messages:ephemeral",
                "events:emit",
                "workflows:run",
                "turns:give",
                "settings:write",
            }
        ),
        config_model=WorkflowsConfig,
        tick=True,
    )
)


def run_workflows(event: Envelope[Any], ctx: Context[WorkflowsConfig]) -> None:
    if not may_trigger(event):
        return
    values = variables(event, ctx.chat)
    for workflow in ctx.config.workflows:
        if matches(workflow, event.event_type, values):
            run(workflow, event, ctx, values)


def run(
    workflow: Workflow, event: Envelope[Any], ctx: Context[WorkflowsConfig], values: Mapping[str, str]
) -> None:
    """Run every step in order, each recorded with its outcome, then report the run."""
    outcomes = tuple(
        step_outcome(n, step, event, ctx, values, workflow) for n, step in enumerate(workflow.steps)
    )
    meta = event.metadata
    ctx.report_workflow_run(
        WorkflowRunReported(
            extension_id=extension.id,
            workflow_id=workflow.id,
            trigger_event_id=meta.event_id,
            trigger_event_type=event.event_type,
            trigger_sequence=meta.sequence,
            steps=outcomes,
        )
    )


def step_outcome(
    n: int,
    step: Step,
    event: Envelope[Any],
    ctx: Context[WorkflowsConfig],
    values: Mapping[str, str],
    workflow: Workflow,
) -> StepOutcome:
    try:
        refused = perform(step, event, ctx, values, workflow)
    except CapabilityError as exc:
        return StepOutcome(index=n, do=step.do, outcome="refused", reason=str(exc)[:REASON_LENGTH])
    except DeliveryError as exc:
        return StepOutcome(index=n, do=step.do, outcome="failed", reason=str(exc)[:REASON_LENGTH])
    if refused:
        return StepOutcome(index=n, do=step.do, outcome="refused", reason=refused[:REASON_LENGTH])
    return StepOutcome(index=n, do=step.do, outcome="ok")


def perform(
    step: Step,
    event: Envelope[Any],
    ctx: Context[WorkflowsConfig],
    values: Mapping[str, str],
    workflow: Workflow,
) -> str | None:
    """Do one step; the reason it was refused, or None when done."""
    if isinstance(step, PostStep):
        ctx.post_message(render(step.text, values))
    elif isinstance(step, EphemeralStep):
        if not values.get("actor.id"):
            return "the event has no actor to show it to"
        ctx.send_ephemeral(values["actor.id"], render(step.text, values))
    elif isinstance(step, EmitStep):
        ctx.emit(EMITTED, {"workflow_id": workflow.id, "name": step.name, "text": render(step.text, values)})
    elif isinstance(step, WebhookStep):
        if ctx.install.shadow:  # the core records a shadow install's outputs; a POST it cannot hold back
            return "shadow"
        return call_webhook(step, event, ctx, workflow)
    elif isinstance(step, GiveFloorStep):
        return give_floor(step, ctx, values)
    elif isinstance(step, ChangeSettingStep):
        return change_settings(step, ctx)
    return None


def give_floor(step: GiveFloorStep, ctx: Context[WorkflowsConfig], values: Mapping[str, str]) -> str | None:
    """Ask the core for the floor, checked first by the core's own rule on the chat as this extension
    sees it (the core checks again on the chat as it is then, and records a refusal)."""
    to = render(step.to, values).strip()
    if not to:
        return "the event names no one to give the floor to"
    try:
        floor_taker(ctx.chat, to)
    except ParleyError as exc:
        return f"{exc.code}: {exc.message}"
    ctx.give_floor(to)
    return None


def change_settings(step: ChangeSettingStep, ctx: Context[WorkflowsConfig]) -> str | None:
    """Ask the core to change settings, checked first as the core checks a moderator's change."""
    changes = step.settings.changes()
    try:
        settings_after(ctx.chat, changes)
    except ParleyError as exc:
        return f"{exc.code}: {exc.message}"
    ctx.change_settings(changes)
    return None


def call_webhook(
    step: WebhookStep, event: Envelope[Any], ctx: Context[WorkflowsConfig], workflow: Workflow
) -> str | None:
    """POST the trigger event as the webhook extension does (same signature, same URL guard)."""
    problem = url_problem(step.url, allow_http=settings().webhook_allow_http)
    secret = ctx.config.webhook_secret
    if problem or secret is None:
        return problem or "no webhook_secret to sign with"
    headers = {
        EVENT_ID_HEADER: event.metadata.event_id,
        EVENT_TYPE_HEADER: event.event_type,
        WORKFLOW_HEADER: workflow.id,
    }
    send(step.url, secret.get_secret_value(), event.to_json().encode(), headers, retry=WEBHOOK_RETRY)
    return None


for _trigger in TRIGGERS:
    extension.on(_trigger)(run_workflows)


# -- schedules -----------------------------------------------------------------------------------------


def reindex(event: Envelope[Any], ctx: Context[WorkflowsConfig]) -> None:
    """Rewrite the chat's index row from its config as it is now, not as the event says: life-cycle
    events arrive in any order, and the last one delivered sees the last change. Unchanged, nothing is
    written."""
    live = ctx.install.enabled and ctx.chat.status == "active"
    schedules = scheduled(ctx.config) if live else {}
    saved = event.metadata.occurred_at
    key = f"{INDEX}{ctx.chat_id}"
    current = ctx.shared.get(key)
    if (current or {}) == indexed(current or {}, schedules, saved):
        return  # a chat that never had a schedule gets no row: the tick's Query never reads it
    ctx.shared.update(
        key,
        lambda entry: indexed(entry or {}, schedules, saved),
        ttl_seconds=None if schedules else FORGET_SECONDS,
    )


def indexed(entry: Mapping[str, Any], schedules: Mapping[str, Schedule], saved: datetime) -> dict[str, Any]:
    """The index row for these schedules: an unchanged schedule keeps its last slot, a new or changed
    one starts from ``saved`` (it never runs a slot that began before it was saved)."""
    rows: dict[str, Any] = {}
    for workflow_id, schedule in schedules.items():
        dumped = schedule.model_dump(exclude_none=True)
        kept = entry.get(workflow_id) or {}
        last = kept["last"] if kept.get("schedule") == dumped else saved.isoformat()
        rows[workflow_id] = {"schedule": dumped, "last": last}
    return rows


def due(entry: Mapping[str, Any], now: datetime) -> list[tuple[str, datetime]]:
    """The (workflow id, slot) pairs of an index row that are due at ``now``."""
    found: list[tuple[str, datetime]] = []
    for workflow_id, row in entry.items():
        schedule = Schedule.model_validate(row["schedule"])
        slot = due_slot(schedule, datetime.fromisoformat(row["last"]), now)
        if slot is not None:
            found.append((workflow_id, slot))
    return found


def tick(tick: Tick[WorkflowsConfig]) -> None:
    """Run each due slot of the indexed chats; one Query for the index, then work only where due."""
    for key, entry in tick.shared.items_under(INDEX).items():
        chat_id = key.removeprefix(INDEX)
        for workflow_id, slot in due(entry or {}, tick.now):
            outcome = tick.run(chat_id, workflow_id, slot, run_scheduled)
            if outcome == "gone":
                forget(tick.shared, key, entry)
                break
            if outcome in ("ran", "duplicate"):  # "held": an overlapping tick runs it and may still fail
                tick.shared.update(key, partial(ran, workflow_id=workflow_id, slot=slot))


def ran(entry: Mapping[str, Any] | None, *, workflow_id: str, slot: datetime) -> dict[str, Any]:
    """The row with the workflow's last slot moved to ``slot`` (unless it was changed meanwhile)."""
    rows = dict(entry or {})
    if workflow_id in rows and datetime.fromisoformat(rows[workflow_id]["last"]) < slot:
        rows[workflow_id] = {**rows[workflow_id], "last": slot.isoformat()}
    return rows


class _RewrittenError(Exception):
    """A life-cycle event rewrote the row since the tick read it: it is not the tick's to empty."""


def forget(shared: Backend, key: str, seen: Any) -> None:
    """Empty a gone chat's row, to expire like one a life-cycle event emptied (the tick's Query must
    not read it forever), unless a life-cycle event rewrote it since the tick read it."""

    def empty(row: Any) -> dict[str, Any]:
        if row != seen:
            raise _RewrittenError
        return {}

    try:
        shared.update(key, empty, ttl_seconds=FORGET_SECONDS)
    except _RewrittenError:
        return


def run_scheduled(event: Envelope[ScheduleReached], ctx: Context[WorkflowsConfig]) -> None:
    """Run the workflow the slot is for, if the chat's config still schedules it at that slot."""
    reached = event.data
    workflow = next((w for w in ctx.config.workflows if w.id == reached.key), None)
    schedule = workflow.trigger.schedule if workflow is not None and workflow.enabled else None
    if workflow is None or schedule is None or slot_at(schedule, reached.slot) != reached.slot:
        return
    values = variables(event, ctx.chat)
    if all(holds(c, values) for c in workflow.trigger.conditions):
        run(workflow, event, ctx, values)


extension.on_tick(tick)
for _event in LIFECYCLE_EVENTS:
    extension.on(_event)(reindex)
