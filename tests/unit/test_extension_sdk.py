"""The SDK and the hook runner without AWS: in-memory ports, a fake invoker."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from infra.local.dispatch import LambdaContext, sqs_event
from infra.local.functions import load_handler
from parley.adapters.memory import InMemoryPublisher, InMemoryStore
from parley.catalog import (
    CORE_SOURCE,
    Actor,
    Envelope,
    ExtensionActivated,
    ExtensionUninstalled,
    MessageStored,
    MessageView,
    new_event,
)
from parley.domain import extensions as installs
from parley.domain.model import Chat
from parley.errors import HookTimeoutError
from parley.extensions import builtin
from parley.extensions.hooks import (
    HOOK_KEY,
    BackfillRequest,
    HookRunner,
    ModerationDecision,
    ModerationRequest,
    hooked,
)
from parley.extensions.manifest import ExtensionDocument, Hooks, Manifest
from parley.extensions.sdk import (
    BACKFILL_WAIT_SECONDS,
    BackfillPendingError,
    CapabilityError,
    Context,
    Extension,
    HandlerTimeoutError,
    NoRuntimeError,
    Runtime,
)
from parley.observability import logger
from tests.unit.chats import OWNER, at, new_chat


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = "Hello"


MANIFEST = Manifest(
    id="echo",
    version="1.0.0",
    name="Echo",
    description="Repeats messages.",
    events=("MessageStored",),
    capabilities=frozenset({"messages:write"}),
    config_model=Greeting,
)


class World:
    """One chat, a registry, a bus and per-(extension, chat) stores, all in memory."""

    def __init__(self, *, enabled: bool = True, failures: int = 0) -> None:
        chat = installs.put_install(
            new_chat("free"),
            user_id=OWNER,
            extension_id="echo",
            version="1",
            enabled=enabled,
            config={},
            now=at(1),
        ).chat
        install = chat.extensions["echo"].model_copy(update={"consecutive_failures": failures})
        self.chat: Chat = chat.model_copy(update={"extensions": {"echo": install}})
        self.bus = InMemoryPublisher()
        self.stores: dict[tuple[str, str], InMemoryStore] = {}
        self.runtime = Runtime(
            load_chat=lambda chat_id: self.chat if chat_id == self.chat.chat_id else None,
            registry=lambda: {"echo": MANIFEST.document()},
            publish=self.bus.publish,
            state=lambda ext, chat_id: self.stores.setdefault((ext, chat_id), InMemoryStore()),
            handler_timeout_seconds=0.5,
        )


def stored(text: str = "hi", sequence: int = 1) -> dict[str, Any]:
    message = MessageView(
        message_id=f"m-{sequence}",
        chat_id="chat-1",
        sequence=sequence,
        sender_id="user-alice",
        sender_name="Alice",
        sender_kind="human",
        text=text,
        created_at=at(2),
    )
    envelope = new_event(
        MessageStored(message=message, turn_mode="free", turn_number=0),
        chat_id="chat-1",
        actor=Actor(id="user-alice", kind="user"),
    ).with_sequence(10 + sequence)
    return {"source": CORE_SOURCE, "detail-type": "MessageStored", "detail": envelope.to_detail()}


def echo_extension(world: World, behaviour: Any = None) -> Extension[Greeting]:
    extension: Extension[Greeting] = Extension(MANIFEST, runtime=world.runtime)

    @extension.on("MessageStored")
    def repeat(event: Envelope[Any], ctx: Context[Greeting]) -> None:
        if behaviour:
            behaviour()
        ctx.post_message(f"{ctx.config.word}: {event.data.message.text}")

    return extension


def test_a_handler_gets_its_typed_config_and_its_request_is_published_after_it_returns() -> None:
    world = World()
    assert echo_extension(world).deliver(stored("hi")) is True
    [request] = world.bus.published
    assert request.event_type == "ExtensionMessageRequested"
    assert request.source == "parley.ext.echo"
    assert request.data.text == "Hello: hi"


def test_ids_of_what_a_handler_asks_for_are_derived_from_the_cause() -> None:
    first, second, event = World(), World(), stored()
    echo_extension(first).deliver(event)
    echo_extension(second).deliver(event)
    assert first.bus.published[0].data.request_id == second.bus.published[0].data.request_id
    assert first.bus.published[0].metadata.event_id == second.bus.published[0].metadata.event_id


def test_nothing_is_published_when_the_handler_fails_and_the_failure_is_reported() -> None:
    world = World(failures=1)

    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        echo_extension(world, boom).deliver(stored())
    [report] = world.bus.published
    assert report.event_type == "ExtensionFailed"
    assert report.data.consecutive_failures == 2
    # the claim was released, so the queue's retry runs the handler again
    assert world.stores[("echo", "chat-1")].claims == {}


def test_a_hanging_handler_counts_as_failed_after_the_deadline() -> None:
    world = World()
    started = time.perf_counter()
    with pytest.raises(HandlerTimeoutError):
        echo_extension(world, lambda: time.sleep(2)).deliver(stored())
    assert time.perf_counter() - started < 1.5
    assert world.bus.types() == ["ExtensionFailed"]


def test_a_success_after_failures_reports_the_recovery() -> None:
    world = World(failures=2)
    echo_extension(world).deliver(stored())
    assert world.bus.types() == ["ExtensionMessageRequested", "ExtensionRecovered"]


@pytest.mark.parametrize(
    "change",
    [
        lambda e: {**e, "source": "parley.ext.evil"},
        lambda e: {
            **e,
            "detail": {**e["detail"], "metadata": {**e["detail"]["metadata"], "chat_id": "other"}},
        },
    ],
    ids=["not-from-the-core", "unknown-chat"],
)
def test_events_it_must_not_see_are_skipped(change: Any) -> None:
    world = World()
    assert echo_extension(world).deliver(change(stored())) is False
    assert world.bus.published == []


def test_a_chat_where_it_is_off_is_skipped() -> None:
    world = World(enabled=False)
    assert echo_extension(world).deliver(stored()) is False


def test_an_event_from_before_the_install_is_skipped() -> None:
    world = World()
    world.chat = world.chat.model_copy(
        update={"extensions": {"echo": world.chat.extensions["echo"].model_copy(update={"active_since": 50})}}
    )
    assert echo_extension(world).deliver(stored(sequence=1)) is False


def backfilling(world: World, *, asked_seconds_ago: float) -> None:
    """The echo install was enabled with a backfill through sequence 11, that long ago."""
    install = world.chat.extensions["echo"].model_copy(
        update={
            "active_since": 11,
            "backfill_through": 11,
            "backfill_requested_at": datetime.now(UTC) - timedelta(seconds=asked_seconds_ago),
        }
    )
    world.chat = world.chat.model_copy(update={"extensions": {"echo": install}})


def test_a_backfill_hook_runs_the_past_marked_replayed_and_then_lets_live_events_through() -> None:
    # Given an install enabled a moment ago with a backfill through sequence 11 (stored(sequence=1))
    world = World()
    backfilling(world, asked_seconds_ago=1)
    seen: list[tuple[int | None, bool]] = []
    extension: Extension[Greeting] = Extension(MANIFEST, runtime=world.runtime)
    extension.on("MessageStored")(lambda e, ctx: seen.append((e.metadata.sequence, e.metadata.replayed)))

    # When a live event comes first, then the backfill's one page, then the live event again
    with pytest.raises(BackfillPendingError):
        extension.deliver(stored(sequence=2))
    page = BackfillRequest(chat_id="chat-1", through=11, events=[stored(sequence=1)["detail"]], last=True)
    answer = extension.lambda_handler({HOOK_KEY: "backfill", "request": page.model_dump(mode="json")})
    assert extension.deliver(stored(sequence=2)) is True

    # Then the past ran first, marked replayed (though older than the install), then the live event
    assert answer == {"handled": 1}
    assert seen == [(11, True), (12, False)]
    # And the mark never travels: the SDK sets it on the parsed envelope only
    assert "replayed" not in stored(sequence=1)["detail"]["metadata"]


def test_live_events_wait_for_a_backfill_only_a_while() -> None:
    # Given a backfill asked for longer ago than the wait, and never finished
    world = World()
    backfilling(world, asked_seconds_ago=BACKFILL_WAIT_SECONDS + 1)

    # Then live events go ahead
    assert echo_extension(world).deliver(stored(sequence=2)) is True


def test_life_cycle_hooks_run_for_its_own_events_even_while_off() -> None:
    world = World(enabled=False)
    extension = echo_extension(world)
    calls: list[str] = []
    extension.on("ExtensionActivated")(lambda event, ctx: calls.append(event.data.extension_id))
    mine = new_event(
        ExtensionActivated(extension_id="echo"), chat_id="chat-1", actor=Actor(id="p", kind="system")
    )
    theirs = new_event(
        ExtensionActivated(extension_id="other"), chat_id="chat-1", actor=Actor(id="p", kind="system")
    )
    for envelope in (mine, theirs):
        extension.deliver(
            {"source": CORE_SOURCE, "detail-type": "ExtensionActivated", "detail": envelope.to_detail()}
        )
    assert calls == ["echo"]


def test_capabilities_are_checked_before_anything_leaves() -> None:
    world = World()
    quiet = Manifest(id="echo", version="1.0.0", name="Echo", description="d", events=("MessageStored",))
    extension: Extension[Any] = Extension(quiet, runtime=world.runtime)
    extension.on("MessageStored")(lambda event, ctx: ctx.post_message("hi"))
    with pytest.raises(CapabilityError, match="messages:write"):
        extension.deliver(stored())
    extension2: Extension[Any] = Extension(quiet, runtime=World().runtime)
    extension2.on("MessageStored")(lambda event, ctx: ctx.emit("echo.said", {}))
    with pytest.raises(CapabilityError, match="events:emit"):
        extension2.deliver(stored())


def test_a_handler_for_an_event_not_in_the_manifest_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match="not in the manifest"):
        Extension(MANIFEST).on("UserJoined")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"events": ("NoSuchEvent",)}, "not in the event catalog"),
        ({"hooks": Hooks(moderate=True)}, "messages:moderate"),
        ({"emits": ("echo.said",)}, "events:emit"),
        ({"emits": ("other.said",), "capabilities": frozenset({"events:emit"})}, "start with its id"),
        ({"id": "Bad Id"}, "pattern"),
    ],
)
def test_a_manifest_that_contradicts_itself_is_refused(fields: Mapping[str, Any], message: str) -> None:
    base = {"id": "echo", "version": "1.0.0", "name": "Echo", "description": "d"}
    with pytest.raises(ValidationError, match=message):
        Manifest(**{**base, **fields})


def test_iam_may_send_follows_the_capabilities() -> None:
    assert MANIFEST.may_send == ("ExtensionMessageRequested", "ExtensionFailed", "ExtensionRecovered")


# -- hooks -----------------------------------------------------------------------------------------


class FakeInvoker:
    def __init__(self, answer: Any = None, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.answer, self.delay, self.error = answer, delay, error

    def invoke(self, document: ExtensionDocument, payload: dict[str, Any], timeout_seconds: float) -> Any:
        if self.error:
            raise self.error
        if self.delay > timeout_seconds:
            raise HookTimeoutError("late")
        return self.answer


MOD = ExtensionDocument(
    id="mod",
    version="1",
    name="Mod",
    description="d",
    capabilities=("messages:moderate",),
    hooks=Hooks(moderate=True),
)
REQUEST = ModerationRequest(chat_id="c", message_id="m", sender_id="u", sender_name="U", text="hi")


@pytest.mark.parametrize(
    ("invoker", "fallback", "expected"),
    [
        (
            FakeInvoker({"action": "rewrite", "text": "HI", "reason": "caps"}),
            "reject",
            ("rewrite", "decided"),
        ),
        (FakeInvoker(delay=1.0), "reject", ("reject", "timeout")),
        (FakeInvoker(delay=1.0), "allow", ("allow", "timeout")),
        (FakeInvoker(error=RuntimeError("down")), "reject", ("reject", "error")),
        (FakeInvoker({"action": "shrug"}), "allow", ("allow", "error")),
        (FakeInvoker({"action": "rewrite"}), "allow", ("allow", "error")),
    ],
    ids=["decided", "timeout-reject", "timeout-allow", "error", "nonsense", "rewrite-without-text"],
)
def test_the_runner_applies_the_fallback_unless_the_hook_decided(
    invoker: FakeInvoker, fallback: Any, expected: tuple[str, str]
) -> None:
    ruling = HookRunner(invoker, budget_ms=100).moderate(MOD, REQUEST, fallback)
    assert ruling.moderation is not None
    assert (ruling.moderation.action, ruling.outcome) == expected


def test_only_enabled_extensions_with_the_capability_and_the_hook_are_asked() -> None:
    chat = new_chat("free")
    for extension_id, enabled in (("mod", True), ("off", False), ("nohook", True), ("unknown", True)):
        chat = installs.put_install(
            chat, user_id=OWNER, extension_id=extension_id, version="1", enabled=enabled, config={}, now=at(1)
        ).chat
    registry = {
        "mod": MOD,
        "off": MOD.model_copy(update={"id": "off"}),
        "nohook": MOD.model_copy(update={"id": "nohook", "hooks": Hooks()}),
    }
    assert [d.id for d in hooked(chat.extensions, registry, "moderate")] == ["mod"]
    assert hooked(chat.extensions, registry, "validate_turn") == []


def test_a_hook_answer_is_validated_by_the_sdk() -> None:
    world = World()
    moderated = Manifest(
        id="echo",
        version="1.0.0",
        name="Echo",
        description="d",
        capabilities=frozenset({"messages:moderate"}),
        hooks=Hooks(moderate=True),
    )
    extension: Extension[Any] = Extension(moderated, runtime=world.runtime)
    extension.moderate(lambda request, config: ModerationDecision(action="allow", reason=request.text))
    answer = extension.lambda_handler({"parley_hook": "moderate", "request": REQUEST.model_dump()})
    assert answer == {"action": "allow", "reason": "hi", "text": None}
    with pytest.raises(LookupError):
        extension.lambda_handler({"parley_hook": "validate_turn", "request": {}})


def test_the_uninstall_hook_runs_after_the_install_is_gone() -> None:
    world = World()
    extension = echo_extension(world)
    calls: list[str] = []
    extension.on("ExtensionUninstalled")(lambda event, ctx: calls.append(ctx.config.word))
    world.chat = world.chat.model_copy(update={"extensions": {}})
    envelope = new_event(
        ExtensionUninstalled(extension_id="echo"), chat_id="chat-1", actor=Actor(id="p", kind="system")
    )
    ran = extension.deliver(
        {"source": CORE_SOURCE, "detail-type": "ExtensionUninstalled", "detail": envelope.to_detail()}
    )
    assert ran is True
    assert calls == ["Hello"]


# -- the Lambda edge: the core's instrumentation and batch consumer ---------------------------------


def queued(*events: dict[str, Any]) -> dict[str, Any]:
    """An SQS batch as the extension's queue delivers it (rule -> queue -> Lambda)."""
    messages = [
        {"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}", "Body": json.dumps(event)}
        for n, event in enumerate(events)
    ]
    return sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:parley-ext_echo", "us-east-1")


def test_an_extension_handler_logs_with_the_events_correlation_id_and_the_lambda_context() -> None:
    # Given an extension whose handler notes the log context it runs in, and an event of a flow
    world = World()
    extension: Extension[Greeting] = Extension(MANIFEST)
    seen: list[tuple[str | None, dict[str, Any]]] = []

    @extension.on("MessageStored")
    def note(event: Envelope[Any], ctx: Context[Greeting]) -> None:
        seen.append((logger.get_correlation_id(), dict(logger.get_current_keys())))

    event = stored("hi")
    event["detail"]["metadata"]["correlation_id"] = correlation_id = "flow-42"

    # When its Lambda handler (built with the deployment's ports) gets the event from its queue
    handler = extension.handler(runtime=world.runtime)
    result = handler(queued(event), LambdaContext.for_function("ext_echo"))

    # Then the handler ran with the flow's correlation id and the invocation's context in its logs
    assert result == {"batchItemFailures": []}
    [(logged_correlation, keys)] = seen
    assert logged_correlation == correlation_id
    assert keys["function_name"] == "ext_echo"
    assert keys["event_type"] == "MessageStored"


def test_an_extensions_failed_record_is_retried_alone() -> None:
    # Given an extension that fails on one message and handles the other
    world = World()
    extension: Extension[Greeting] = Extension(MANIFEST)

    @extension.on("MessageStored")
    def picky(event: Envelope[Any], ctx: Context[Greeting]) -> None:
        if event.data.message.text == "bad":
            raise ValueError("boom")
        ctx.post_message("ok")

    handler = extension.handler(runtime=world.runtime)

    # When both arrive in one batch
    result = handler(queued(stored("bad", 1), stored("good", 2)), LambdaContext.for_function("ext_echo"))

    # Then only the failed record goes back to the queue (partial batch response), the other went through
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert [e.event_type for e in world.bus.published] == ["ExtensionFailed", "ExtensionMessageRequested"]


def test_an_extension_without_ports_says_how_to_get_them() -> None:
    extension: Extension[Greeting] = Extension(MANIFEST)
    extension.on("MessageStored")(lambda event, ctx: None)
    with pytest.raises(NoRuntimeError, match=r"extension\.handler\(runtime=\.\.\.\)"):
        extension.deliver(stored())


@pytest.mark.parametrize("extension_id", builtin.BUILTIN)
def test_every_shipped_extensions_lambda_is_the_sdks_handler(extension_id: str) -> None:
    assert load_handler(f"ext_{extension_id}") == builtin.extension(extension_id).lambda_handler


def test_each_invocation_reports_the_extensions_events_and_writes_for_operators(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an extension that writes one row per event
    world = World()
    extension: Extension[Greeting] = Extension(MANIFEST)

    @extension.on("MessageStored")
    def keep(event: Envelope[Any], ctx: Context[Greeting]) -> None:
        ctx.store.put(f"seen#{event.metadata.sequence}", True)

    handler = extension.handler(runtime=world.runtime)
    capsys.readouterr()

    # When one invocation handles a batch of two events
    handler(queued(stored("a", 1), stored("b", 2)), LambdaContext.for_function("ext_echo"))

    # Then one EMF line, under the extension's id, says: 1 invocation, 2 events, and 6 writes
    # (its own 2, and the SDK's claim and completion of each event)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ExtensionEvents"' in line]
    [usage] = lines
    assert "extension_id" in usage["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert usage["extension_id"] == MANIFEST.id
    counts = (usage["ExtensionInvocations"], usage["ExtensionEvents"], usage["ExtensionWrites"])
    assert counts == ([1.0], [2.0], [6.0])
