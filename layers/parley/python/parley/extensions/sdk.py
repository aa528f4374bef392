"""The extension SDK: declare a manifest and handlers; the platform does the rest.

    welcome = Extension(Manifest(id="welcome", ..., events=("UserJoined",)))

    @welcome.on("UserJoined")
    def greet(event: Envelope[UserJoined], ctx: Context[WelcomeConfig]) -> None:
        ctx.post_message(ctx.config.template.format(name=event.data.participant.name))

Its Lambda's ``handler.py`` hands it the ports that the deployment's composition root builds (the
SDK never looks them up), as Powertools' utilities take ``boto3_client=``:

    from parley.root import extension_runtime

    lambda_handler = welcome.handler(runtime=extension_runtime)

The handler gets the core's edge: log context with the event's correlation id, X-Ray tracing, EMF
metrics flushed per invocation, and the core's SQS batch consumer (partial batch responses).
For every delivered event the SDK: ignores events it has no handler for; checks the event's bus
source (core events come only from ``parley.core``, other extensions' events pass the core's own
policy); skips chats where the extension is not enabled; claims the (extension, event) pair so a
duplicate never reaches the handler (a manifest that says its handlers are ``idempotent`` skips the
claim: a duplicate runs again and changes nothing); runs the handler with a deadline; commits its store
writes together with what it asked for (messages, events) in one transaction
(``parley.extensions.store``), then publishes those, with ids derived from the cause, so a retry after
a failed publish republishes the same requests instead of losing them (an ephemeral message for one
member, ``send_ephemeral``, is published but never recorded: a failed publish loses it); and reports
failures and recoveries, which drive the circuit breaker.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, overload

from pydantic import BaseModel

from parley.blocks import Block, parse_blocks
from parley.catalog import (
    CORE_SOURCE,
    Actor,
    AIContextContributed,
    Envelope,
    EventData,
    ExtensionEphemeralRequested,
    ExtensionEvent,
    ExtensionFailed,
    ExtensionFloorRequested,
    ExtensionMessageRequested,
    ExtensionMessageUpdateRequested,
    ExtensionRecovered,
    ExtensionSettingsRequested,
    ScheduleReached,
    WorkflowRunReported,
    derive,
    extension_message_id,
    new_event,
    parse_detail,
)
from parley.clock import utc_now
from parley.consumers import sqs_consumer
from parley.domain.model import Chat, Install
from parley.errors import ConcurrentWriteError
from parley.extensions.hooks import (
    HOOK_KEY,
    BackfillAnswer,
    BackfillRequest,
    ModerationDecision,
    ModerationRequest,
    ReadFilterAnswer,
    ReadFilterRequest,
    TurnDecision,
    TurnRequest,
)
from parley.extensions.manifest import LIFECYCLE_EVENTS, Capability, ExtensionDocument, Manifest
from parley.extensions.policy import refusal, sender_id
from parley.extensions.store import Backend, StagedStore, Store
from parley.extensions.typed import TypedOn
from parley.observability import instrument, logger
from parley.routing import extension_route

C = TypeVar("C", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)
ID_NAMESPACE = uuid.UUID("6f1b8a52-5d0e-4c3e-9a57-0b8f5b7f2a10")
KEEP_SEEN_SECONDS = 7 * 24 * 3600
"""How long a handled event is remembered: longer than any redelivery (queue retention is 4 days)."""
BACKFILL_WAIT_SECONDS = 60.0
"""How long after an enabling live events wait for its backfill (handed back to their queue); then
they go ahead, so a backfill that cannot finish never stops the extension for good."""
BACKFILLED_KEY = "parley:backfilled"
"""The store row (per chat) where the SDK notes the last backfill it finished: ``{"through": n}``."""
BlockInput = Mapping[str, Any] | BaseModel
"""A block as a handler writes it: a dict as in the README's table, or a ``parley.blocks`` model."""
COMMIT_ATTEMPTS = 3
"""Runs of a handler whose ``update`` lost a race to a concurrent delivery, before the queue retries."""
TICK_KEY = "parley_tick"
"""An invoke whose event holds this key is the extension's tick; its value is the time the tick is for
(ISO 8601: EventBridge Scheduler's scheduled time, the local stack's clock), else it runs at now."""
SHARED_SCOPE = "~"
"""The "chat id" of an extension's rows that belong to no chat (``Tick.shared``; key ``<id>#~``): chat
ids are UUIDs, never this, and the rows stay under the extension's own IAM-bound prefix."""
Due = Literal["ran", "duplicate", "held", "gone", "failed"]
"""What ``Tick.run`` did: ran the handler; found the slot already run; found it running in another
delivery (an overlapping tick: it may still fail, so the slot is not done yet); found the chat gone for the
extension (not installed, disabled, or completed), so nothing ran; or the handler failed (released and
reported like a failed event: the next tick runs the slot again)."""


class CapabilityError(PermissionError):
    """The extension asked for something its manifest does not declare."""


class HandlerTimeoutError(TimeoutError):
    """The handler ran past its deadline (a hang counts as a failure)."""


class BackfillPendingError(RuntimeError):
    """A live event came while the chat's backfill still runs: its queue hands it back later."""


class TickFailedError(RuntimeError):
    """Some runs of a tick failed (each is logged, reported and retried on a later tick); raised once the
    others ran, so the scheduled invocation counts as an error."""


class NoRuntimeError(LookupError):
    """The extension was asked to run before anyone gave it its ports (``handler(runtime=...)``)."""


WRITES = ("put", "update", "claim", "commit", "complete", "release", "put_new", "tally")
"""The Store calls that write a row (each is at least one billed write request)."""


class CountingStore:
    """A store backend that counts the writes made through it (per-extension usage for operators)."""

    def __init__(self, store: Backend) -> None:
        self._store = store
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if name not in WRITES:
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            return found(*args, **kwargs)

        return counted


@dataclass
class Usage:
    """One invocation's work for one extension: reported as EMF metrics (dimension
    ``extension_id``) when the invocation ends, so operators see what each extension costs."""

    events: int = 0
    writes: int = 0

    def report(self, extension_id: str) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        usage = EphemeralMetrics(namespace="Parley")  # its own EMF line: other metrics keep their dimensions
        usage.add_dimension(name="extension_id", value=extension_id)
        usage.add_metric(name="ExtensionInvocations", unit=MetricUnit.Count, value=1)
        usage.add_metric(name="ExtensionEvents", unit=MetricUnit.Count, value=self.events)
        usage.add_metric(name="ExtensionWrites", unit=MetricUnit.Count, value=self.writes)
        usage.flush_metrics()


@dataclass
class Runtime:
    """The SDK's ports: the chat as the extension may see it, the registry, the bus and its own rows.

    ``load_context(extension_id, chat_id)`` reads the extension's context row (what its install
    there allows, ``parley.domain.contexts``); a deployment sets it and leaves ``load_chat`` None.
    ``load_chat(chat_id)`` hands over a whole chat: for fakes in tests."""

    load_chat: Callable[[str], Chat | None] | None
    registry: Callable[[], Mapping[str, ExtensionDocument]]
    publish: Callable[[Sequence[Envelope[Any]]], None]
    state: Callable[[str, str], Backend]
    handler_timeout_seconds: float = 10.0
    load_context: Callable[[str, str], Chat | None] | None = None

    def chat(self, extension_id: str, chat_id: str) -> Chat | None:
        if self.load_context is not None:
            return self.load_context(extension_id, chat_id)
        return self.load_chat(chat_id) if self.load_chat is not None else None


@dataclass(frozen=True)
class Emits(Generic[P]):
    """One of an extension's own events with a typed payload, for its emitter and its subscribers:

    completed = Emits("standup.completed", Completed)
    ctx.emit(completed, Completed(answered=3))          # in the emitting extension
    completed.payload_of(event).answered                # in a subscriber's handler
    """

    name: str
    model: type[P]

    def payload_of(self, event: Envelope[Any]) -> P:
        return self.model.model_validate(event.data.payload)


@dataclass
class Context(Generic[C]):
    """What a handler gets besides its event: this chat's config, actions and its own state."""

    extension: Extension[C]
    event: Envelope[Any]
    chat: Chat
    install: Install
    config: C
    store: Store
    _outputs: list[EventData] = field(default_factory=list)

    @property
    def chat_id(self) -> str:
        return self.event.metadata.chat_id

    @property
    def shared(self) -> Backend:
        """The extension's rows that belong to no chat (``Tick.shared``), written at once: not staged
        with the delivery's commit, so write there only what a retry may write again."""
        return self.extension.runtime().state(self.extension.id, SHARED_SCOPE)

    def _need(self, capability: Capability) -> None:
        if capability not in self.extension.manifest.capabilities:
            raise CapabilityError(f"extension {self.extension.id} lacks the `{capability}` capability")

    def post_message(self, text: str, *, blocks: Sequence[BlockInput] | None = None) -> None:
        """Post as the extension's bot once the handler returns (stored once per event and call).
        With ``blocks`` (needs ``messages:interactive``) people can click it, and ``text`` is their
        plain fallback; bad blocks raise ``BlocksError`` naming the field. ``send`` does the same and
        returns the message's id."""
        self.send(text, blocks=blocks)

    def send(self, text: str, *, blocks: Sequence[BlockInput] | None = None) -> str:
        """``post_message``, returning the id the message will have (to update it later).

        message_id = ctx.send("Deploy?", blocks=[
            {"type": "section", "text": "Deploy build 42 to production?"},
            {"type": "buttons", "buttons": [{"action_id": "yes", "label": "Deploy"}]},
        ])
        """
        self._need("messages:write")
        checked = self._blocks(blocks)
        request_id = self._request_id(ExtensionMessageRequested, "msg")
        self._outputs.append(
            ExtensionMessageRequested(
                extension_id=self.extension.id, request_id=request_id, text=text, blocks=checked
            )
        )
        return extension_message_id(self.extension.id, request_id)

    def update_message(
        self,
        message_id: str,
        *,
        text: str | None = None,
        blocks: Sequence[BlockInput] | None = None,
        revision: int | None = None,
    ) -> None:
        """Change one of this extension's own messages once the handler returns (needs
        ``messages:interactive``): the core stores a MessageUpdated with the next ``version`` and pushes
        it to everyone who sees the message. ``None`` keeps the current text or blocks; ``blocks=[]``
        removes them. Another extension's message is refused (ExtensionEventRejected ``not_owner``).
        Updates can reach the core out of order: pass a ``revision`` that grows with each state you
        send, and one at or below the revision the message shows already is dropped.

            @ext.on("InteractionSubmitted")
            def clicked(event: Envelope[InteractionSubmitted], ctx: Context[EmptyConfig]) -> None:
                ctx.update_message(event.data.message_id, text="Deployed.", blocks=[])
        """
        self._need("messages:interactive")
        checked = self._blocks(blocks)
        request_id = self._request_id(ExtensionMessageUpdateRequested, "upd")
        self._outputs.append(
            ExtensionMessageUpdateRequested(
                extension_id=self.extension.id,
                request_id=request_id,
                message_id=message_id,
                text=text,
                blocks=checked,
                revision=revision,
            )
        )

    def _request_id(self, kind: type[EventData], tag: str) -> str:
        """The n-th request of this kind for this delivery always gets the same id: a redelivered
        event makes the same requests, which the core then applies once."""
        n = sum(isinstance(o, kind) for o in self._outputs)
        return str(uuid.uuid5(ID_NAMESPACE, f"{self.extension.id}:{self.event.metadata.event_id}:{tag}{n}"))

    def _blocks(self, blocks: Sequence[BlockInput] | None) -> tuple[Block, ...] | None:
        if blocks is None:
            return None
        self._need("messages:interactive")
        return parse_blocks(blocks)

    def send_ephemeral(self, participant_id: str, text: str) -> None:
        """Show ``text`` to one member only, once the handler returns: pushed to that member's sockets
        on the chat as an EphemeralMessage, never stored, seen by no one else (no other member, no
        other extension, no history). Needs ``messages:ephemeral``. Dropped if the member has no socket
        on the chat (the core looks for one for 2 s), so it suits replies and greetings, not records.

            ctx.send_ephemeral(event.data.participant.id, "Only you can see this.")
        """
        self._need("messages:ephemeral")
        request_id = self._request_id(ExtensionEphemeralRequested, "eph")
        self._outputs.append(
            ExtensionEphemeralRequested(
                extension_id=self.extension.id,
                request_id=request_id,
                participant_id=participant_id,
                text=text,
            )
        )

    def give_floor(self, participant_id: str) -> None:
        """Give the floor to one member once the handler returns (needs ``turns:give``), by the rule a
        moderator's ``POST /chats/{chat_id}/turn`` follows: only in a moderated chat, only to a member.
        The core refuses anything else and records it (ExtensionEventRejected); applied once per call.

            ctx.give_floor(event.data.participant.id)
        """
        self._need("turns:give")
        request_id = self._request_id(ExtensionFloorRequested, "floor")
        self._outputs.append(
            ExtensionFloorRequested(
                extension_id=self.extension.id, request_id=request_id, participant_id=participant_id
            )
        )

    def change_settings(self, changes: Mapping[str, Any]) -> None:
        """Change chat settings once the handler returns (needs ``settings:write``): only ``turn_mode``,
        ``turn_timeout_seconds``, ``max_message_length``, ``rate_limit_messages`` and
        ``rate_limit_window_seconds``, validated as a moderator's ``PATCH /chats/{chat_id}/settings``;
        the core refuses anything else and records it (ExtensionEventRejected). Applied once per call.

            ctx.change_settings({"turn_mode": "moderated"})
        """
        self._need("settings:write")
        request_id = self._request_id(ExtensionSettingsRequested, "set")
        self._outputs.append(
            ExtensionSettingsRequested(
                extension_id=self.extension.id, request_id=request_id, changes=dict(changes)
            )
        )

    @overload
    def emit(self, name: Emits[P], payload: P) -> None: ...

    @overload
    def emit(self, name: str, payload: Mapping[str, Any] | None = None) -> None: ...

    def emit(self, name: str | Emits[Any], payload: Mapping[str, Any] | BaseModel | None = None) -> None:
        """Emit one of the manifest's own events (``emits``) for other extensions; with an ``Emits``
        declaration its payload is that model (a mismatch is a mypy error)."""
        if isinstance(name, Emits):
            name = name.name
        if isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        self._need("events:emit")
        if name not in self.extension.manifest.emits:
            raise CapabilityError(f"{name!r} is not in the manifest's emits {self.extension.manifest.emits}")
        self._outputs.append(
            ExtensionEvent(extension_id=self.extension.id, name=name, payload=dict(payload or {}))
        )

    def report_workflow_run(self, run: WorkflowRunReported) -> None:
        """Report a run of one of the chat's workflows (needs ``workflows:run``): the core records it as
        WorkflowRun, for the chat's moderators only."""
        self._need("workflows:run")
        self._outputs.append(run.model_copy(update={"extension_id": self.extension.id}))

    def set_ai_context(self, text: str) -> None:
        """Set the text AI participants of this chat get in their context (empty clears it)."""
        self._need("ai:context")
        self._outputs.append(AIContextContributed(extension_id=self.extension.id, text=text[:2000]))


Handler = Callable[[Envelope[Any], Context[C]], None]
LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass
class Tick(Generic[C]):
    """What a tick handler gets: the time, the extension's rows that belong to no chat (an index of
    the chats with work to schedule, so a tick never scans every chat), and ``run``."""

    extension: Extension[C]
    now: datetime
    shared: Backend
    outcomes: Counter[str] = field(default_factory=Counter)

    def run(self, chat_id: str, key: str, slot: datetime, handler: Handler[C]) -> Due:
        """Run ``handler`` on the chat for the slot of ``key`` that began at ``slot``, as the delivery of
        a ScheduleReached whose id derives from (chat, key, slot): claimed, committed, published and
        reported like any event's, so a slot ticked twice (a redelivery, two overlapping ticks) runs once.

            @ext.on_tick
            def tick(tick: Tick[MyConfig]) -> None:
                for chat_id in tick.shared.items_under("chat#"):
                    tick.run(chat_id.removeprefix("chat#"), "daily", midnight(tick.now), remind)
        """
        try:
            outcome = self.extension.run_due(chat_id, key, slot, handler)
        except Exception:  # one chat's failure must not starve the others: raised by ``tick`` at the end
            logger.exception("a scheduled run failed", extra={"extension_id": self.extension.id, "key": key})
            outcome = "failed"
        self.outcomes[outcome] += 1
        return outcome


TickHandler = Callable[[Tick[C]], None]


@dataclass(frozen=True)
class CommandCall:
    """One slash command a member typed (``SlashCommandInvoked``), with its args read two ways:
    ``positional`` (the words and quoted strings) and ``options`` (``--name value``, ``--name=value``;
    a ``--flag`` with no value is ``"true"``).

        /poll "Lunch?" Pizza Sushi --closes 10m
        positional == ("Lunch?", "Pizza", "Sushi"); options == {"closes": "10m"}
    """

    command_id: str
    command: str
    args: tuple[str, ...]
    raw: str
    actor: Actor

    @property
    def positional(self) -> tuple[str, ...]:
        return _split_options(self.args)[0]

    @property
    def options(self) -> dict[str, str]:
        return _split_options(self.args)[1]


def _split_options(args: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            positional.append(arg)
        elif "=" in arg:
            name, value = arg[2:].split("=", 1)
            options[name] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            options[arg[2:]] = args[i + 1]
            i += 1
        else:
            options[arg[2:]] = "true"
        i += 1
    return tuple(positional), options


CommandHandler = Callable[[CommandCall, Context[C]], None]


class Extension(TypedOn[Context[C]]):
    def __init__(self, manifest: Manifest, *, runtime: Runtime | Callable[[], Runtime] | None = None) -> None:
        self.manifest = manifest
        self._runtime = runtime
        self._instrumented: LambdaHandler | None = None
        self._consumer: LambdaHandler | None = None
        self._handlers: dict[str, Handler[C]] = {}
        self._commands: dict[str, CommandHandler[C]] = {}
        self._moderate: Callable[[ModerationRequest, C], ModerationDecision] | None = None
        self._validate_turn: Callable[[TurnRequest, C], TurnDecision] | None = None
        self._on_read: Callable[[ReadFilterRequest, C], ReadFilterAnswer] | None = None
        self._tick: TickHandler[C] | None = None
        self.usage = Usage()

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, kind="extension", name=self.manifest.name)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise NoRuntimeError(
                f"extension {self.id} has no runtime: build its Lambda handler with "
                "extension.handler(runtime=...)"
            )
        return self._runtime if isinstance(self._runtime, Runtime) else self._runtime()

    def use(self, runtime: Runtime | Callable[[], Runtime]) -> None:
        """Run against these ports: a ``Runtime``, or a factory asked for it on each event (pass a
        cached one, such as the composition root's, whose reset it then follows)."""
        self._runtime = runtime

    def handler(self, *, runtime: Runtime | Callable[[], Runtime]) -> LambdaHandler:
        """The Lambda entry point, running against the ports its deployment built.

        ``runtime`` is usually the composition root's ``extension_runtime`` factory, called when an
        event arrives rather than at import, so a cold start pays for it only when there is work.
        """
        self.use(runtime)
        return self.lambda_handler

    # -- declaring ---------------------------------------------------------------------------------

    def _on(self, event: str) -> Callable[[Handler[C]], Handler[C]]:
        """``on`` (typed per event in ``parley.extensions.typed``): register a handler for ``event``."""
        manifest = self.manifest
        declared = event in manifest.subscribed or event in manifest.extension_events
        if not declared:
            raise ValueError(
                f"{manifest.id}: {event!r} is not in the manifest's events, extension_events "
                "or life-cycle events"
            )

        def register(fn: Handler[C]) -> Handler[C]:
            self._handlers[event] = fn
            return fn

        return register

    def command(self, name: str) -> Callable[[CommandHandler[C]], CommandHandler[C]]:
        """Handle the slash command ``/name`` (declared in the manifest's ``commands``): a member's
        post that starts with it reaches this handler instead of the chat.

            @poll.command("poll")
            def start(call: CommandCall, ctx: Context[PollConfig]) -> None:
                question, *options = call.positional
        """
        if name not in {c.name for c in self.manifest.commands}:
            raise ValueError(f"{self.id}: /{name} is not in the manifest's commands")

        def register(fn: CommandHandler[C]) -> CommandHandler[C]:
            self._commands[name] = fn
            self._handlers["SlashCommandInvoked"] = self._run_command
            return fn

        return register

    def _run_command(self, event: Envelope[Any], ctx: Context[C]) -> None:
        data = event.data
        handler = self._commands.get(data.command)
        if handler is None or data.extension_id != self.id:
            logger.warning("a command this extension does not answer", extra={"command": data.command})
            return
        handler(CommandCall(data.command_id, data.command, data.args, data.raw, event.metadata.actor), ctx)

    def moderate(
        self, fn: Callable[[ModerationRequest, C], ModerationDecision]
    ) -> Callable[[ModerationRequest, C], ModerationDecision]:
        if not self.manifest.hooks.moderate:
            raise ValueError(f"{self.id}: set hooks.moderate in the manifest to declare a moderation hook")
        self._moderate = fn
        return fn

    def validate_turn(
        self, fn: Callable[[TurnRequest, C], TurnDecision]
    ) -> Callable[[TurnRequest, C], TurnDecision]:
        if not self.manifest.hooks.validate_turn:
            raise ValueError(f"{self.id}: set hooks.validate_turn in the manifest to declare a turn hook")
        self._validate_turn = fn
        return fn

    def on_read(
        self, fn: Callable[[ReadFilterRequest, C], ReadFilterAnswer]
    ) -> Callable[[ReadFilterRequest, C], ReadFilterAnswer]:
        """Declare the read filter: per viewer, keep, hide or rewrite stored messages (see README,
        "Read filters"); the core asks it once per message and caches its verdicts."""
        if not self.manifest.hooks.on_read:
            raise ValueError(f"{self.id}: set hooks.on_read in the manifest to declare a read filter")
        self._on_read = fn
        return fn

    def on_tick(self, fn: TickHandler[C]) -> TickHandler[C]:
        """Declare the tick: called once a minute (the manifest's ``tick``) to run what is due, each
        piece through ``Tick.run``."""
        if not self.manifest.tick:
            raise ValueError(f"{self.id}: set tick in the manifest to be invoked once a minute")
        self._tick = fn
        return fn

    def config_of(self, raw: Mapping[str, Any]) -> C:
        return self.manifest.config_model.model_validate(dict(raw))  # type: ignore[return-value]

    # -- running -----------------------------------------------------------------------------------

    def lambda_handler(self, event: dict[str, Any], context: Any = None) -> Any:
        """A hook call (synchronous invoke) or an SQS batch of bus events, with the core's edge:
        log context, tracing and metrics (``instrument()``) and its SQS batch consumer.

        Without a Lambda context (called in-process by the local stack's hooks or by tests) there is
        no invocation to describe in the logs, so the instrumentation is left out.
        """
        if context is None:
            return self._entry(event, context)
        if self._instrumented is None:
            self._instrumented = instrument()(self._entry)
        self.usage = Usage()
        try:
            return self._instrumented(event, context)
        finally:
            self.usage.report(self.id)

    def _entry(self, event: dict[str, Any], context: Any) -> Any:
        if HOOK_KEY in event:
            return self.run_hook(event)
        if TICK_KEY in event:
            return self.tick(tick_time(event[TICK_KEY]))
        if self._consumer is None:
            route = extension_route(self.manifest.document())
            self._consumer = sqs_consumer(route, self._consume, with_source=True)
        return self._consumer(event, context)

    def _consume(self, envelope: Envelope[Any], source: str | None) -> None:
        try:
            self.handle(envelope, source)
        except Exception:
            logger.exception("extension handler failed", extra={"extension_id": self.id})
            raise

    def run_hook(self, event: Mapping[str, Any]) -> dict[str, Any]:
        kind, request = event[HOOK_KEY], event.get("request") or {}
        if kind == "moderate" and self._moderate is not None:
            moderation = ModerationRequest.model_validate(request)
            return self._moderate(moderation, self.config_of(moderation.config)).model_dump(mode="json")
        if kind == "validate_turn" and self._validate_turn is not None:
            turn = TurnRequest.model_validate(request)
            return self._validate_turn(turn, self.config_of(turn.config)).model_dump(mode="json")
        if kind == "on_read" and self._on_read is not None:
            read = ReadFilterRequest.model_validate(request)
            return self._on_read(read, self.config_of(read.config)).model_dump(mode="json")
        if kind == "backfill":
            return self.backfill(BackfillRequest.model_validate(request)).model_dump(mode="json")
        raise LookupError(f"extension {self.id} has no {kind!r} hook")

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Run the tick handler once (the schedule's invoke; tests pass ``now``): how many runs it made
        of each ``Due`` outcome."""
        if self._tick is None:
            raise LookupError(f"extension {self.id} has no tick handler")
        tick = Tick(self, now or utc_now(), self.runtime().state(self.id, SHARED_SCOPE))
        self._tick(tick)
        if tick.outcomes["failed"]:
            raise TickFailedError(f"{tick.outcomes['failed']} scheduled runs of {self.id} failed")
        return dict(tick.outcomes)

    def run_due(self, chat_id: str, key: str, slot: datetime, handler: Handler[C]) -> Due:
        """``Tick.run``: the chat as the extension sees it, then one delivery of the slot's cause."""
        runtime = self.runtime()
        chat = runtime.chat(self.id, chat_id)
        install = chat.extensions.get(self.id) if chat else None
        if chat is None or install is None or not install.enabled or chat.status != "active":
            return "gone"
        slot = slot.astimezone(UTC)
        event_id = str(uuid.uuid5(ID_NAMESPACE, f"{self.id}:schedule:{chat_id}:{key}:{slot.isoformat()}"))
        reached = ScheduleReached(extension_id=self.id, key=key, slot=slot)
        cause = new_event(
            reached, chat_id=chat_id, actor=self.actor, correlation_id=event_id, occurred_at=slot
        )
        cause = cause.model_copy(
            update={"metadata": cause.metadata.model_copy(update={"event_id": event_id})}
        )
        if self._deliver(runtime, handler, cause, chat, install):
            return "ran"
        return "held" if runtime.state(self.id, chat_id).running(event_id) else "duplicate"

    def backfill(self, request: BackfillRequest) -> BackfillAnswer:
        """Run the handlers on a page of the chat's past events, in order, each marked ``replayed``
        (``event.metadata.replayed``); after the last page, live events of the chat go ahead."""
        handled = 0
        for detail in request.events:
            envelope = parse_detail(detail)
            replayed = envelope.model_copy(
                update={"metadata": envelope.metadata.model_copy(update={"replayed": True})}
            )
            handled += self.handle(replayed, CORE_SOURCE)
        if request.last:
            self.runtime().state(self.id, request.chat_id).put(BACKFILLED_KEY, {"through": request.through})
        return BackfillAnswer(handled=handled)

    def _handler_for(self, envelope: Envelope[Any]) -> Handler[C] | None:
        if envelope.event_type == "ExtensionEvent":
            return self._handlers.get(envelope.data.name)
        if envelope.event_type in LIFECYCLE_EVENTS and envelope.data.extension_id != self.id:
            return None  # another extension's life cycle
        return self._handlers.get(envelope.event_type)

    def deliver(self, eventbridge_event: Mapping[str, Any]) -> bool:
        """Handle one bus event; True if the handler ran. Raises if it failed (so it is retried)."""
        envelope = parse_detail(eventbridge_event.get("detail") or {})
        return self.handle(envelope, eventbridge_event.get("source"))

    def handle(self, envelope: Envelope[Any], source: str | None) -> bool:
        """Handle one parsed event that came with this bus ``source``; as ``deliver``."""
        handler = self._handler_for(envelope)
        if handler is None:
            return False
        runtime = self.runtime()
        if not self._sent_by_core(envelope, source):
            return False
        target = self._target(runtime, envelope, source)
        if target is None:
            return False
        return self._deliver(runtime, handler, envelope, *target)

    def _deliver(
        self, runtime: Runtime, handler: Handler[C], envelope: Envelope[Any], chat: Chat, install: Install
    ) -> bool:
        """Claim the event, run the handler, commit and publish: True if the handler ran."""
        state = CountingStore(runtime.state(self.id, chat.chat_id))
        self._wait_for_backfill(envelope, install, state)
        event_id = envelope.metadata.event_id
        lease = runtime.handler_timeout_seconds + 30
        if not self.manifest.idempotent and not state.claim(
            event_id, lease_seconds=lease, keep_seconds=KEEP_SEEN_SECONDS
        ):
            return self._republish(runtime, state, event_id)
        context = Context(self, envelope, chat, install, self.config_of(install.config), StagedStore(state))
        try:
            self._execute(runtime, handler, context, state)
        finally:
            self.usage.events += 1
            self.usage.writes += state.writes
        return True

    @staticmethod
    def _sent_by_core(envelope: Envelope[Any], source: str | None) -> bool:
        """Core events are trusted only from the core's bus source (anyone may put events on the bus);
        extension events are judged later, by the core's policy, once the chat is known."""
        if envelope.event_type == "ExtensionEvent":
            return True
        if source == CORE_SOURCE and envelope.source == CORE_SOURCE:
            return True
        logger.warning(
            "ignored an event not sent by the core",
            extra={"source": source, "event_id": envelope.metadata.event_id},
        )
        return False

    def _target(
        self, runtime: Runtime, envelope: Envelope[Any], source: str | None
    ) -> tuple[Chat, Install] | None:
        """The chat and this extension's install there, or None when the event is not for it there
        (no chat, not installed or disabled, from before it was enabled, or a refused sender)."""
        chat = runtime.chat(self.id, envelope.metadata.chat_id)
        install = self._install_in(chat, envelope) if chat else None
        if chat is None or install is None or not self._wanted(envelope, install):
            return None
        if envelope.event_type == "ExtensionEvent":
            reason = refusal(envelope, source, runtime.registry().get(sender_id(envelope, source)), chat)
            if reason:
                logger.warning("ignored a refused extension event", extra={"reason": reason})
                return None
        return chat, install

    def _install_in(self, chat: Chat, envelope: Envelope[Any]) -> Install | None:
        """The chat's install of this extension; on ``ExtensionUninstalled`` it is gone by now, but the
        hook still runs, so it gets a disabled stand-in with the config's defaults."""
        install = chat.extensions.get(self.id)
        if install is None and envelope.event_type == "ExtensionUninstalled":
            install = Install(
                extension_id=self.id,
                version=self.manifest.version,
                enabled=False,
                installed_by="parley",
                installed_at=envelope.metadata.occurred_at,
                disabled_reason="uninstalled",
            )
        return install

    @staticmethod
    def _wanted(envelope: Envelope[Any], install: Install) -> bool:
        """Life-cycle events reach a disabled install (they are how it learns of it); other events
        only an enabled one, and not late deliveries of what happened before it was enabled (but
        a backfill's, which are that on purpose)."""
        if envelope.event_type in LIFECYCLE_EVENTS:
            return True
        if not install.enabled:
            return False
        sequence = envelope.metadata.sequence
        return sequence is None or envelope.metadata.replayed or sequence > install.active_since

    def _wait_for_backfill(self, envelope: Envelope[Any], install: Install, state: Backend) -> None:
        """Hand a live event back to its queue while the chat's backfill has not finished (the past
        first), for at most ``BACKFILL_WAIT_SECONDS`` after the enabling."""
        through, asked = install.backfill_through, install.backfill_requested_at
        sequence = envelope.metadata.sequence
        if through is None or asked is None or envelope.metadata.replayed or sequence is None:
            return
        if sequence <= through or datetime.now(UTC) > asked + timedelta(seconds=BACKFILL_WAIT_SECONDS):
            return
        done = state.get(BACKFILLED_KEY) or {}
        if int(done.get("through", 0)) < through:
            raise BackfillPendingError(f"the backfill through {through} has not finished yet")

    def _execute(self, runtime: Runtime, handler: Handler[C], context: Context[C], state: Backend) -> None:
        """Run the handler and commit its writes with its outputs (again on fresh state if an
        ``update`` lost a race), then publish them; on a handler failure release the claim (so the
        retry runs it again) and report it, which drives the circuit breaker. A failed publish is
        raised with the commit kept: the retry republishes the recorded outputs."""
        envelope, install = context.event, context.install
        event_id = envelope.metadata.event_id
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                outputs = self._attempt(runtime, handler, context, state)
                break
            except ConcurrentWriteError:
                if attempt == COMMIT_ATTEMPTS:
                    self._failed(runtime, context, state, ConcurrentWriteError("the store kept changing"))
                    raise
                context = replace(context, store=StagedStore(state), _outputs=[])
            except Exception as exc:
                self._failed(runtime, context, state, exc)
                raise
        runtime.publish(outputs)
        if not self._skips_delivery_row(context):
            state.complete(event_id, keep_seconds=KEEP_SEEN_SECONDS)
        if install.consecutive_failures and install.enabled:
            recovered = ExtensionRecovered(extension_id=self.id, after_failures=install.consecutive_failures)
            self._report(runtime, envelope, recovered)

    def _attempt(
        self, runtime: Runtime, handler: Handler[C], context: Context[C], state: Backend
    ) -> list[Envelope[Any]]:
        envelope = context.event
        self._run(handler, envelope, context, runtime.handler_timeout_seconds)
        outputs = [self._output(envelope, data, n) for n, data in enumerate(context._outputs)]
        writes = context.store.writes if isinstance(context.store, StagedStore) else []
        # an ephemeral message is never stored, not even here: a publish that fails loses it
        details = [o.to_detail() for o in outputs if not _private(o)]
        if self._skips_delivery_row(context):
            return outputs
        state.commit(envelope.metadata.event_id, writes, details, keep_seconds=KEEP_SEEN_SECONDS)
        return outputs

    def _skips_delivery_row(self, context: Context[C]) -> bool:
        """An idempotent extension's delivery that staged nothing and asked for nothing (its blind
        writes are already done, replay-safe) needs no delivery row: no claim, commit or completion."""
        staged = context.store.writes if isinstance(context.store, StagedStore) else []
        kept = [o for o in context._outputs if not isinstance(o, ExtensionEphemeralRequested)]
        return self.manifest.idempotent and not staged and not kept

    def _failed(self, runtime: Runtime, context: Context[C], state: Backend, exc: Exception) -> None:
        envelope, install = context.event, context.install
        if not self.manifest.idempotent:
            state.release(envelope.metadata.event_id)
        if install.enabled and envelope.event_type not in LIFECYCLE_EVENTS:
            failed = ExtensionFailed(
                extension_id=self.id,
                failed_event_id=envelope.metadata.event_id,
                error=f"{type(exc).__name__}: {exc}"[:500],
                consecutive_failures=install.consecutive_failures + 1,
            )
            self._report(runtime, envelope, failed)

    def _republish(self, runtime: Runtime, state: Backend, event_id: str) -> bool:
        """A duplicate; but if its first delivery committed and could not publish, publish now."""
        pending = state.pending(event_id)
        if pending is None:
            logger.info("duplicate delivery skipped", extra={"event_id": event_id})
            return False
        runtime.publish([parse_detail(detail) for detail in pending])
        state.complete(event_id, keep_seconds=KEEP_SEEN_SECONDS)
        logger.info("committed outputs republished", extra={"event_id": event_id, "count": len(pending)})
        return False

    @staticmethod
    def _run(handler: Handler[C], envelope: Envelope[Any], context: Context[C], timeout: float) -> None:
        """Run with a deadline. A hung handler is abandoned to its (daemon) thread; in Lambda the
        function's own timeout ends it, locally it cannot block anything but itself."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                handler(envelope, context)
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        thread = threading.Thread(target=target, daemon=True, name=f"ext-{context.extension.id}")
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise HandlerTimeoutError(f"handler still running after {timeout:g} s")
        if errors:
            raise errors[0]

    def _output(self, cause: Envelope[Any], data: EventData, n: int) -> Envelope[Any]:
        envelope = derive(cause, data, actor=self.actor)
        if isinstance(data, ExtensionEphemeralRequested):
            # routed to no extension: only the core's gateway (its rule has no such filter) gets it
            envelope = envelope.model_copy(
                update={"metadata": envelope.metadata.model_copy(update={"extensions": ()})}
            )
        event_id = str(uuid.uuid5(ID_NAMESPACE, f"{self.id}:{cause.metadata.event_id}:{n}"))
        return envelope.model_copy(
            update={"metadata": envelope.metadata.model_copy(update={"event_id": event_id})}
        )

    def _report(self, runtime: Runtime, cause: Envelope[Any], data: EventData) -> None:
        try:
            runtime.publish([derive(cause, data, actor=self.actor)])
        except Exception:
            logger.exception("could not report the extension's health", extra={"extension_id": self.id})


def tick_time(value: Any) -> datetime | None:
    """The time a tick's payload names: an ISO 8601 time with its zone, else None (now)."""
    if not isinstance(value, str):
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"a tick's time names its zone: {value!r}")
    return when.astimezone(UTC)


def _private(envelope: Envelope[Any]) -> bool:
    return isinstance(envelope.data, ExtensionEphemeralRequested)
