"""Every Lambda function as plain data: what it is given, what it may touch, and what starts it.

``infra.functions`` creates all of them in one loop from ``FUNCTIONS``; adding a function is one
entry here plus its folder under ``functions/``. No CDK import, so tests (and later the local stack)
can read the same list. Table keys are ``parley.adapters.tables.TABLES`` keys, route names are
``parley.routing.ROUTES`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from parley.routing import ROUTES, Route

Access = Literal["read", "write", "read_write"]


@dataclass(frozen=True)
class Http:
    """Invoked by the HTTP API for every route of the OpenAPI document it serves."""


@dataclass(frozen=True)
class Consumes:
    """Fed by the queue of a routing-table route (rule -> SQS -> this function, partial batch responses)."""

    route: str


@dataclass(frozen=True)
class Every:
    """Invoked on a schedule by EventBridge Scheduler; ``expression`` is ``rate(...)`` or ``cron(...)``."""

    expression: str


Trigger = Http | Consumes | Every


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function. ``name`` is its folder under ``functions/`` (handler.lambda_handler)."""

    name: str
    description: str
    trigger: Trigger
    memory_mb: int = 512
    timeout_seconds: int = 30
    tables: Mapping[str, Access] = field(default_factory=dict)
    puts_events: bool = False
    pushes_to_websockets: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"{self.name}: memory must be 128..10240 MB")
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError(f"{self.name}: timeout must be 1..900 s")
        if isinstance(self.trigger, Http) and self.timeout_seconds > 29:
            raise ValueError(f"{self.name}: API Gateway gives up after 30 s, so the timeout must be below it")


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="api",
        description="HTTP API: validates, authorizes and commits commands; publishes their events.",
        trigger=Http(),
        # user-facing: more memory buys CPU, which shortens cold starts (pydantic, Powertools imports)
        memory_mb=1024,
        timeout_seconds=10,
        tables={
            "chats": "read_write",
            "memberships": "read_write",
            "messages": "read_write",
            "events": "read_write",
            "idempotency": "read_write",
        },
        puts_events=True,
    ),
    FunctionSpec(
        name="turns",
        description="Moves the floor after a post, a join or a leave, and emits TurnChanged.",
        trigger=Consumes("turns"),
        memory_mb=512,
        timeout_seconds=30,
        tables={"chats": "read_write", "events": "read_write"},
        puts_events=True,
    ),
    FunctionSpec(
        name="outbox_sweeper",
        description="Moves expired turns on, then publishes committed events nobody confirmed.",
        trigger=Every("rate(1 minute)"),
        memory_mb=512,
        # the handler stops paging with 10 s left, so a run ends before the next minute's
        timeout_seconds=55,
        # reads the chats' turn-deadline index and commits turn moves with their event rows
        tables={"chats": "read_write", "events": "read_write"},
        puts_events=True,
    ),
)


# Handlers under functions/ that the stack does not deploy yet, each with the reason. Their routes get
# no rule either (a rule into a queue nobody reads would only pile events up). Any other route or
# folder without a spec fails synthesis; tests/infra keeps this list honest.
NOT_YET_DEPLOYED: Mapping[str, str] = {
    "broadcaster": "pushes over the WebSocket API, which comes with the real-time CDK work",
    "realtime": "the WebSocket API's $connect/$disconnect/action handler: real-time CDK work",
    "ws_authorizer": "the WebSocket API's $connect ticket authorizer: real-time CDK work",
    "ai_responder": "streams replies over the WebSocket API, which comes with the real-time CDK work",
}


def spec(name: str) -> FunctionSpec:
    for candidate in FUNCTIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no function named {name!r}")


def consumer_of(route: str) -> FunctionSpec:
    """The function fed by a route's queue; exactly one per queue-delivered route."""
    found = [f for f in FUNCTIONS if isinstance(f.trigger, Consumes) and f.trigger.route == route]
    if len(found) != 1:
        raise LookupError(
            f"route {route!r} needs exactly one FunctionSpec with trigger=Consumes({route!r}) in "
            f"infra/specs.py, found {len(found)}"
        )
    return found[0]


def deployed_routes() -> tuple[Route, ...]:
    """The routing-table entries the stack builds: all but those whose handler is not deployed yet."""
    built = tuple(r for r in ROUTES if r.function not in NOT_YET_DEPLOYED)
    for r in built:
        consumer_of(r.name)
    return built
