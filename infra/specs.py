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


@dataclass(frozen=True)
class WebSocket:
    """Invoked by the WebSocket API: ``routes`` serves $connect/$disconnect/$default and every action,
    ``authorizer`` is the REQUEST authorizer of $connect (``infra.realtime``)."""

    part: Literal["routes", "authorizer"]


Trigger = Http | Consumes | Every | WebSocket


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
    # execute-api:ManageConnections on the stage and PARLEY_WEBSOCKET_MANAGEMENT_URL: posts to sockets
    pushes_to_websockets: bool = False
    # PARLEY_WEBSOCKET_URL: hands clients the wss URL (with their ticket) to connect to
    knows_websocket_url: bool = False
    # bedrock:InvokeModelWithResponseStream on foundation models: streams AI participants' replies
    invokes_bedrock: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"{self.name}: memory must be 128..10240 MB")
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError(f"{self.name}: timeout must be 1..900 s")
        if isinstance(self.trigger, Http | WebSocket) and self.timeout_seconds > 29:
            raise ValueError(f"{self.name}: API Gateway gives up after 29 s, so the timeout must be below it")


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
        knows_websocket_url=True,
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
    FunctionSpec(
        name="realtime",
        description="WebSocket API: connects, subscriptions, typing and messages sent over the socket.",
        trigger=WebSocket("routes"),
        # on every socket frame a user waits for: the api's memory, for the same cold-start reason
        memory_mb=1024,
        timeout_seconds=10,
        tables={
            "connections": "read_write",
            "subscriptions": "read_write",
            # sendMessage commits like POST /messages; subscribe checks membership (the chat's own
            # participant list, not the memberships table) and replays events
            "chats": "read_write",
            "messages": "read_write",
            "events": "read_write",
            # client_message_id rows and typing throttles
            "idempotency": "read_write",
        },
        puts_events=True,
        # replays the events a resubscribing socket missed, to that socket
        pushes_to_websockets=True,
        knows_websocket_url=True,
    ),
    FunctionSpec(
        name="ws_authorizer",
        description="Redeems the single-use ticket of a WebSocket $connect (REQUEST authorizer).",
        trigger=WebSocket("authorizer"),
        memory_mb=512,
        timeout_seconds=10,
        # tickets live in the idempotency table; redeeming one deletes it (single use)
        tables={"idempotency": "read_write"},
    ),
    FunctionSpec(
        name="broadcaster",
        description="Pushes client-visible events to the sockets subscribed to their chat.",
        trigger=Consumes("broadcaster"),
        memory_mb=512,
        timeout_seconds=30,
        # loads the chat; drops subscriptions and connections whose socket is gone (410)
        tables={"chats": "read", "connections": "read_write", "subscriptions": "read_write"},
        pushes_to_websockets=True,
    ),
    FunctionSpec(
        name="ai_responder",
        description="Streams an AI participant's reply to the chat's sockets, then stores it as a message.",
        trigger=Consumes("ai_responder"),
        memory_mb=512,
        # a reply may take PARLEY_AI_TIMEOUT_SECONDS (60 s by default) and is then stored or failed
        timeout_seconds=120,
        tables={
            "chats": "read_write",
            "messages": "read_write",
            "events": "read_write",
            # the request id is the reply's client_message_id: a redelivered request stores nothing
            "idempotency": "read_write",
            # the stream's fan-out drops subscriptions and connections whose socket is gone
            "connections": "read_write",
            "subscriptions": "read_write",
        },
        puts_events=True,
        pushes_to_websockets=True,
        invokes_bedrock=True,
    ),
)


# Handlers under functions/ that the stack does not deploy yet, each with the reason (none today). Their
# routes get no rule either (a rule into a queue nobody reads would only pile events up). Any other
# route or folder without a spec fails synthesis; tests/infra keeps this list honest.
NOT_YET_DEPLOYED: Mapping[str, str] = {}


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
