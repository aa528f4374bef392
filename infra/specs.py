"""Every Lambda function as plain data: what it is given, what it may touch, and what starts it.

``infra.functions`` creates the core's in one loop from ``CORE_FUNCTIONS``; adding a function is one
entry here plus its folder under ``functions/``. The shipped extensions' functions are derived, one
per manifest of ``parley.extensions.builtin`` (``extension_function``), and each is deployed by its
``infra.extensions.ParleyExtension``. No CDK import, so tests (and later the local stack) can read
the same list. Table keys are ``parley.adapters.tables.TABLES`` keys, route names are
``parley.topology.all_routes()`` names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from parley.extensions.builtin import manifests
from parley.extensions.manifest import Manifest
from parley.routing import Route, extension_route
from parley.settings import Settings
from parley.topology import all_routes

Access = Literal["read", "write", "read_write"]


@dataclass(frozen=True)
class Http:
    """Invoked by the HTTP API for every route of the OpenAPI document it serves."""


@dataclass(frozen=True)
class Consumes:
    """Fed by a routing-table route: its queue (rule -> SQS -> this function, partial batch
    responses), or, for a stream route, the events table's stream (batch item failures, bisect,
    on-failure DLQ)."""

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
    # events:ListRules: the relay publishes only what some rule on the bus wants (the rules' patterns)
    reads_bus_rules: bool = False
    # cloudwatch:ListMetrics and GetMetricData: operators read each extension's usage figures
    reads_metrics: bool = False
    # execute-api:ManageConnections on the stage and PARLEY_WEBSOCKET_MANAGEMENT_URL: posts to sockets
    pushes_to_websockets: bool = False
    # PARLEY_WEBSOCKET_URL: hands clients the wss URL (with their ticket) to connect to
    knows_websocket_url: bool = False
    # bedrock:InvokeModelWithResponseStream on foundation models: streams AI participants' replies
    invokes_bedrock: bool = False
    # lambda:InvokeFunction on the functions of extensions with a hook: rules on posts and on reads
    runs_hooks: bool = False
    # lambda:InvokeFunction on the functions of extensions whose manifest asks for a backfill
    runs_backfills: bool = False
    # Lambda reserved concurrency: an extension's flood or hang never takes the account's concurrency
    reserved_concurrency: int | None = None
    # the id of the extension this function is: its rights are scoped to its own rows and bus source
    # (``infra.extensions``) instead of granted whole from ``tables`` and ``puts_events``
    extension: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def traced(self) -> bool:
        """X-Ray active tracing: the api only (``infra.observability``'s sampling rule); the
        consumers are not traced, their logs carry the event's correlation id instead."""
        return isinstance(self.trigger, Http)

    @property
    def system_log_level(self) -> Literal["INFO", "WARN"]:
        """Lambda's platform lines (START, REPORT with the init duration): kept where people wait
        on the answer (the HTTP and WebSocket APIs); consumers' durations are in Lambda's metrics."""
        return "INFO" if isinstance(self.trigger, Http | WebSocket) else "WARN"

    @property
    def application_log_level(self) -> Literal["INFO", "WARN"]:
        """Queue consumers log per-event chatter at INFO (a fan-out done, a duplicate skipped):
        WARN keeps their problems and drops that; the rest stay at INFO."""
        return "WARN" if isinstance(self.trigger, Consumes) else "INFO"

    @property
    def log_class(self) -> Literal["STANDARD", "INFREQUENT_ACCESS"]:
        """CloudWatch Logs class of its log group: Infrequent Access (half the ingestion price, no
        metric extraction) for the HTTP API, which emits no embedded metrics (held by
        tests/integration/test_api_emits_no_metrics.py); Standard for the rest, whose EMF lines are
        metrics."""
        return "INFREQUENT_ACCESS" if isinstance(self.trigger, Http) else "STANDARD"

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"{self.name}: memory must be 128..10240 MB")
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError(f"{self.name}: timeout must be 1..900 s")
        if isinstance(self.trigger, Http | WebSocket) and self.timeout_seconds > 29:
            raise ValueError(f"{self.name}: API Gateway gives up after 29 s, so the timeout must be below it")


CORE_FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="api",
        description="HTTP API: validates, authorizes and commits commands with their events.",
        trigger=Http(),
        # user-facing: more memory buys CPU, which shortens cold starts (pydantic, Powertools imports)
        memory_mb=1024,
        timeout_seconds=10,
        tables={
            "chats": "read_write",
            "memberships": "read_write",
            # history is the event log; message rows written before it became so are still read
            "messages": "read",
            "events": "read_write",
            # client_message_id claims, history's anchors, read filters' cached verdicts
            "idempotency": "read_write",
            # the registry: GET /extensions, installs, default installs on a new chat, hooks of a post;
            # and the extensions' context rows, written with every chat change they see
            "extensions": "read_write",
            # GET /chats reads the inbox; POST /chats/{id}/read moves a marker and tells the caller's
            # own sockets (dropping those found gone)
            "inbox": "read_write",
            "connections": "read_write",
            "subscriptions": "read_write",
        },
        puts_events=True,
        pushes_to_websockets=True,
        knows_websocket_url=True,
        runs_hooks=True,
        # GET /extensions/{extension_id}/usage (operators)
        reads_metrics=True,
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
        name="backfill",
        description="Hands an extension that asks for history a chat's past events when it is enabled.",
        trigger=Consumes("backfill"),
        memory_mb=256,
        # pages of a bounded backfill, each a synchronous invoke of the extension (parley.services.backfill)
        timeout_seconds=900,
        # the chat's log, and the registry: whether the extension asks for a backfill, and its bound
        tables={"events": "read", "extensions": "read"},
        runs_backfills=True,
    ),
    FunctionSpec(
        name="outbox_sweeper",
        description="Moves turns whose deadline passed on (the stream publishes every event).",
        trigger=Every("rate(1 minute)"),
        memory_mb=512,
        # the handler stops paging with 10 s left, so a run ends before the next minute's
        timeout_seconds=55,
        # reads the chats' turn-deadline index and commits turn moves with their event rows
        tables={"chats": "read_write", "events": "read_write"},
    ),
    FunctionSpec(
        name="relay",
        description="The outbox: each new events-table row (its stream) to the inbox, then the bus.",
        trigger=Consumes("relay"),
        # I/O only: a PutEvents per 10 rows, two inbox writes per chat posted to in a batch
        memory_mb=256,
        timeout_seconds=30,
        # marks the rows the bus can never take (parked) and keeps the inbox read model (forward-only
        # writes); the stream's read grant comes with its mapping
        tables={"events": "read_write", "inbox": "read_write"},
        puts_events=True,
        reads_bus_rules=True,
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
            # a replayed sendMessage may name a message row older than the log's history
            "messages": "read",
            "events": "read_write",
            # client_message_id rows, history's anchors and typing throttles
            "idempotency": "read_write",
            # the registry: a sendMessage asks the chat's hooks like POST /messages does; the
            # extensions' context rows move with the chat (parley.domain.contexts)
            "extensions": "read_write",
        },
        puts_events=True,
        # replays the events a resubscribing socket missed, to that socket
        pushes_to_websockets=True,
        knows_websocket_url=True,
        runs_hooks=True,
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
        description="Pushes client-visible events (the events table's stream) to their chat's sockets.",
        trigger=Consumes("broadcaster"),
        memory_mb=512,
        timeout_seconds=30,
        # loads the chat; drops subscriptions and connections whose socket is gone (410); a chat with
        # a read filter: the registry (which extensions filter), its hook, and the verdicts it caches
        # in the idempotency table (parley.services.read_filters)
        tables={
            "chats": "read",
            "connections": "read_write",
            "subscriptions": "read_write",
            "extensions": "read",
            "idempotency": "read_write",
        },
        pushes_to_websockets=True,
        runs_hooks=True,
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
            # the context is the log's history; older message rows are still read
            "messages": "read",
            "events": "read_write",
            # the request id is the reply's client_message_id: a redelivered request stores nothing
            "idempotency": "read_write",
            # the stream's fan-out drops subscriptions and connections whose socket is gone
            "connections": "read_write",
            "subscriptions": "read_write",
            # the registry: a reply passes the chat's moderation hooks before it is stored; the
            # extensions' context rows move with the chat (parley.domain.contexts)
            "extensions": "read_write",
        },
        puts_events=True,
        pushes_to_websockets=True,
        invokes_bedrock=True,
        runs_hooks=True,
    ),
    FunctionSpec(
        name="extension_gateway",
        description="Checks what extensions send (capability, install), applies it or records a refusal.",
        trigger=Consumes("extension_gateway"),
        memory_mb=512,
        timeout_seconds=30,
        tables={
            # installs, failure counts and the circuit live on the chat; bot messages are committed
            # like any post (event rows, and the request id as their client_message_id); a replayed
            # request may name a message row older than the log's history
            "chats": "read_write",
            "events": "read_write",
            "messages": "read",
            "idempotency": "read_write",
            # the registry: what the sending extension declared, and the chat's moderation hooks,
            # which a bot message passes before it is stored; the extensions' context rows, which
            # move with installs and circuits (parley.domain.contexts)
            "extensions": "read_write",
            # an ephemeral message goes to its member's sockets on the chat; one found gone is dropped
            "subscriptions": "read_write",
        },
        puts_events=True,
        # ephemeral messages (ExtensionEphemeralRequested): pushed to one member, never stored
        pushes_to_websockets=True,
        runs_hooks=True,
    ),
)

HANDLER_TIMEOUT_SETTING = "PARLEY_EXTENSION_HANDLER_TIMEOUT_SECONDS"
HANDLER_TIMEOUT_SECONDS: float = Settings.default_of("extension_handler_timeout_seconds")
# past the handlers' own deadlines: the delivery claim, the chat read and the publish of the outputs
EXTENSION_MARGIN_SECONDS = 30
# a hook answers within the platform's budget (500 ms), cold start included: more memory buys CPU
HOOK_MEMORY_MB = 512
EXTENSION_MEMORY_MB = 256


def extension_function(
    manifest: Manifest, *, handler_timeout_seconds: float = HANDLER_TIMEOUT_SECONDS
) -> FunctionSpec:
    """The function of an extension written with the SDK, from its manifest and its route.

    Every record of a batch may run until the SDK's handler deadline, so the function outlives the
    worst batch: a hung handler then fails its own record (partial batch response), not the batch.
    """
    route = extension_route(manifest.document(), reserved_concurrency=manifest.reserved_concurrency)
    hooked = manifest.hooks.any
    return FunctionSpec(
        name=route.function,
        description=f"Extension {manifest.id}: {manifest.description}"[:256],
        trigger=Consumes(route.name),
        memory_mb=HOOK_MEMORY_MB if hooked else EXTENSION_MEMORY_MB,
        timeout_seconds=min(
            900, math.ceil(handler_timeout_seconds * route.batch_size) + EXTENSION_MARGIN_SECONDS
        ),
        # its own rows (its context rows among them) and the registry (read): see infra.extensions;
        # never a core table
        tables={"extensions": "read_write"},
        puts_events=True,
        reserved_concurrency=route.reserved_concurrency,
        extension=manifest.id,
        env={HANDLER_TIMEOUT_SETTING: f"{handler_timeout_seconds:g}"},
    )


EXTENSION_FUNCTIONS: tuple[FunctionSpec, ...] = tuple(extension_function(m) for m in manifests())
"""One per extension that ships with Parley (a module of ``parley.extensions.builtin``)."""

FUNCTIONS: tuple[FunctionSpec, ...] = CORE_FUNCTIONS + EXTENSION_FUNCTIONS


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
    """The routes the stack builds (the core's and the shipped extensions'): all but those whose
    handler is not deployed yet."""
    built = tuple(r for r in all_routes() if r.function not in NOT_YET_DEPLOYED)
    for r in built:
        consumer_of(r.name)
    return built


def core_routes() -> tuple[Route, ...]:
    """The deployed routes whose consumer is a core function (``infra.bus``); the others belong to
    extensions and are built by their ``ParleyExtension``."""
    return tuple(r for r in deployed_routes() if consumer_of(r.name).extension is None)
