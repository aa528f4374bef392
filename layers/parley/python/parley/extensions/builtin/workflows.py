"""`workflows`: runs the chat's workflows (its config, ``parley.domain.workflows``) on their trigger events.

An ordinary event consumer, on the platform's rules: every step goes through the SDK, so a step
needing a capability this extension lacks is refused (and recorded, not raised); what it asks of the
core (bot messages, ephemeral messages, events) passes the core's checks and rate limits; its
failures count towards its circuit breaker; a redelivered trigger runs nothing twice (the SDK's
delivery claim). Each run is reported as WorkflowRunReported, which the core records as WorkflowRun
for the chat's moderators. A step that fails (a webhook that does not answer 2xx) is recorded as
failed and the run goes on: it is the chat's configuration, not this extension, that is broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley.catalog import Envelope, StepOutcome, WorkflowRunReported
from parley.domain.commands import floor_taker, settings_after
from parley.domain.workflows import (
    REASON_LENGTH,
    ChangeSettingStep,
    EmitStep,
    EphemeralStep,
    GiveFloorStep,
    PostStep,
    Step,
    WebhookStep,
    Workflow,
    WorkflowsConfig,
    matches,
    may_trigger,
    render,
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
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import CapabilityError, Context, Extension
from parley.settings import settings

TRIGGERS = ("UserJoined", "UserLeft", "MessageStored", "TurnChanged")
EMITTED = "workflows.emitted"
WORKFLOW_HEADER = "X-Parley-Workflow"
WEBHOOK_RETRY = Retry(attempts=1, timeout_seconds=3.0)
"""One attempt each: a chat's webhook steps (at most 2) share one handler run's 10 s deadline."""

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
