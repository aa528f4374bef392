"""The shipped extensions and the platform's guarantees, with the real handlers on moto."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from pydantic import BaseModel

from infra.local.dispatch import LambdaContext, sqs_event
from infra.local.functions import load_handler
from parley import root
from parley.adapters.tables import ChatRecord
from parley.catalog import (
    SYSTEM,
    Actor,
    Envelope,
    ExtensionMessageRequested,
    UserJoined,
    new_event,
    parse_detail,
)
from parley.consumers import sqs_consumer
from parley.extensions.builtin import welcome
from parley.extensions.hooks import ModerationDecision, ModerationRequest, TurnDecision, TurnRequest
from parley.extensions.manifest import Hooks, Manifest
from parley.extensions.sdk import Context, Extension
from parley.routing import route
from parley.services.chats import Identity
from parley.settings import settings
from tests.support.api import Api, User, assert_error, expire_idempotency_records
from tests.support.bus import Bus
from tests.support.extensions import deliver, install, registered


def messages(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/chats/{chat_id}/messages", user).json["items"]
    return items


def of_type(bus: Bus, detail_type: str, chat_id: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in bus.emitted()
        if e["detail-type"] == detail_type
        and (chat_id is None or e["detail"]["metadata"]["chat_id"] == chat_id)
    ]


# -- welcome ---------------------------------------------------------------------------------------


def test_welcome_greets_a_joiner_with_the_chats_template(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat with welcome enabled and a custom template
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "welcome", template="Glad you came, {name}.")

    # When Bob joins and the bus settles
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()

    # Then the welcome bot posted once, as itself, outside anyone's turn
    [greeting] = messages(api, bob, chat_id)
    assert greeting["text"] == "Glad you came, Bob."
    assert greeting["sender_kind"] == "extension"
    assert greeting["sender_id"] == "ext:welcome"
    assert greeting["sender_name"] == "Welcome bot"


def test_welcome_stays_silent_where_it_is_not_enabled(api: Api, bus: Bus, alice: User, bob: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    api.put(f"/chats/{chat_id}/extensions/welcome", alice, body={"enabled": False, "config": {}})

    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()

    assert messages(api, bob, chat_id) == []


def test_a_duplicate_event_reaches_the_handler_once(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a counting extension enabled on a chat
    seen: list[str] = []
    counter: Extension[Any] = Extension(
        Manifest(
            id="counter", version="1.0.0", name="Counter", description="Counts.", events=("MessageStored",)
        )
    )

    @counter.on("MessageStored")
    def count(event: Envelope[Any], ctx: Context[Any]) -> None:
        seen.append(event.metadata.event_id)

    with registered(counter):
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "counter")
        api.send(alice, chat_id, "once")
        [stored] = of_type(bus, "MessageStored", chat_id)

        # When the same event is delivered three times (at-least-once delivery, a redrive)
        ran = [counter.deliver(stored) for _ in range(3)]

    # Then the handler saw it exactly once
    assert ran == [True, False, False]
    assert seen == [stored["detail"]["metadata"]["event_id"]]


def test_a_redelivered_welcome_posts_one_greeting(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat with welcome, and Bob's join
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "welcome")
    api.post(f"/chats/{chat_id}/members", bob)
    [joined] = of_type(bus, "UserJoined", chat_id)[-1:]

    # When the SDK's delivery record is lost (so the handler runs twice) and both requests reach the core
    welcome.extension.deliver(joined)
    root.extension_runtime().state("welcome", chat_id).release(joined["detail"]["metadata"]["event_id"])
    welcome.extension.deliver(joined)
    bus.pump()

    # Then the core stored one greeting: the request id is derived from the cause
    assert len(of_type(bus, "ExtensionMessageRequested", chat_id)) >= 2
    assert [m["text"] for m in messages(api, bob, chat_id)] == ["Welcome Bob!"]


# -- moderation ------------------------------------------------------------------------------------


def test_moderation_rejects_a_blocked_term_with_a_clear_422(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat whose moderation blocks "spam"
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    install(api, alice, chat_id, "moderation", blocked_terms=["spam", "scam link"], action="reject")

    # When Bob posts a message with a blocked term (in another case)
    response = api.send(bob, chat_id, "Buy SPAM today", client_message_id="b-1")

    # Then he is told which term, by which extension, and nothing is stored
    error = assert_error(response, 422, "message_rejected")
    assert '"spam"' in error["message"]
    assert "Moderation" in error["message"]
    assert error["details"]["extension_id"] == "moderation"
    assert messages(api, alice, chat_id) == []
    # and the decision is in the chat's event log, the refusal on the bus
    [moderated] = of_type(bus, "MessageModerated", chat_id)
    assert moderated["detail"]["data"] | {"elapsed_ms": 0} == {
        "message_id": moderated["detail"]["data"]["message_id"],
        "sender_id": bob.user_id,
        "extension_id": "moderation",
        "action": "reject",
        "reason": 'the message contains a blocked term: "spam"',
        "outcome": "decided",
        "elapsed_ms": 0,
    }
    assert moderated["detail"]["metadata"]["sequence"] is not None
    assert of_type(bus, "MessageRejected", chat_id)[0]["detail"]["data"]["reason"] == "message_rejected"

    # When he posts something clean, it is stored, with the allow decision recorded beside it
    assert api.send(bob, chat_id, "spammer is not a blocked word").status == 201
    assert [m["text"] for m in messages(api, alice, chat_id)] == ["spammer is not a blocked word"]
    assert [e["detail"]["data"]["action"] for e in of_type(bus, "MessageModerated", chat_id)] == [
        "reject",
        "allow",
    ]


def test_moderation_redacts_when_configured_to(api: Api, bus: Bus, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "moderation", blocked_terms=["darn"], action="redact")

    response = api.send(alice, chat_id, "Darn it, darn it all")

    assert response.status == 201, response.text
    assert response.json["text"] == "*** it, *** it all"
    assert of_type(bus, "MessageModerated", chat_id)[0]["detail"]["data"]["action"] == "rewrite"
    assert (
        of_type(bus, "MessageStored", chat_id)[0]["detail"]["data"]["message"]["text"] == "*** it, *** it all"
    )


def _hook_extension(extension_id: str, behaviour: Any) -> Extension[Any]:
    ext: Extension[Any] = Extension(
        Manifest(
            id=extension_id,
            version="1.0.0",
            name=extension_id.title(),
            description="A moderation hook for tests.",
            capabilities=frozenset({"messages:moderate"}),
            hooks=Hooks(moderate=True),
        )
    )

    @ext.moderate
    def decide(request: ModerationRequest, config: BaseModel) -> ModerationDecision:
        result: ModerationDecision = behaviour(request)
        return result

    return ext


def _slow(request: ModerationRequest) -> ModerationDecision:
    time.sleep(0.6)
    return ModerationDecision(action="allow")


def _broken(request: ModerationRequest) -> ModerationDecision:
    raise RuntimeError("the model is down")


@pytest.mark.parametrize(("behaviour", "outcome"), [(_slow, "timeout"), (_broken, "error")])
@pytest.mark.parametrize("fallback", ["allow", "reject"])
def test_a_hook_that_times_out_or_fails_gets_the_chats_fallback(
    api: Api,
    bus: Bus,
    alice: User,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: Any,
    outcome: str,
    fallback: str,
) -> None:
    # Given a 100 ms budget, and a chat whose moderation hook is slow or broken
    monkeypatch.setenv("PARLEY_HOOK_BUDGET_MS", "100")
    root.reset()
    ext = _hook_extension("flaky_mod", behaviour)
    with registered(ext):
        chat_id = api.create_chat(alice)["chat_id"]
        api.patch(f"/chats/{chat_id}/settings", alice, body={"hook_fallback": fallback})
        install(api, alice, chat_id, "flaky_mod")

        # When Alice posts
        started = time.perf_counter()
        response = api.send(alice, chat_id, "hello")
        waited = time.perf_counter() - started

    # Then the chat's fallback applied, the post did not wait for the hook, and the decision is recorded
    if fallback == "allow":
        assert response.status == 201, response.text
    else:
        assert_error(response, 422, "message_rejected")
    assert waited < 0.55  # the slow hook sleeps 0.6 s: the post never waited for it
    [moderated] = of_type(bus, "MessageModerated", chat_id)
    assert moderated["detail"]["data"]["outcome"] == outcome
    assert moderated["detail"]["data"]["action"] == fallback


# -- turn hook -------------------------------------------------------------------------------------


def test_a_turn_hook_overrides_the_chats_turn_mode(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a round-robin chat whose turn policy extension lets only people named B* speak out of turn
    policy: Extension[Any] = Extension(
        Manifest(
            id="b_first",
            version="1.0.0",
            name="B first",
            description="Turn policy for tests.",
            capabilities=frozenset({"turns:control"}),
            hooks=Hooks(validate_turn=True),
        )
    )

    @policy.validate_turn
    def rule(request: TurnRequest, config: BaseModel) -> TurnDecision:
        if request.sender_id == "user-bob":
            return TurnDecision(allow=True, reason="Bob may always speak")
        return TurnDecision(allow=False, reason="only Bob speaks here")

    with registered(policy):
        chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
        api.post(f"/chats/{chat_id}/members", bob)
        bus.pump()
        install(api, alice, chat_id, "b_first")
        holder = api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"]

        # When Alice (who holds the floor) and Bob (who does not) post
        refused = api.send(alice, chat_id, "my turn?")
        allowed = api.send(bob, chat_id, "out of turn, by policy")

    # Then the extension's ruling replaced the mode's, and both rulings are recorded
    assert holder == alice.user_id
    error = assert_error(refused, 409, "not_your_turn")
    assert "only Bob speaks here" in error["message"]
    assert allowed.status == 201, allowed.text
    rulings = [e["detail"]["data"] for e in of_type(bus, "TurnValidationRequested", chat_id)]
    assert [(r["sender_id"], r["allowed"], r["extension_id"]) for r in rulings] == [
        (alice.user_id, False, "b_first"),
        (bob.user_id, True, "b_first"),
    ]
    # and a post allowed out of turn does not use up the holder's turn
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == alice.user_id


def test_a_turn_hooks_ruling_is_not_reused_once_the_floor_moved_during_the_post(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given a moderated chat where Bob holds the floor, with a turn hook that follows the mode; while
    # it rules on Bob's first post, Alice gives the floor to Carol (the post's commit then loses the
    # race and re-reads the chat)
    asked: list[tuple[str | None, int, bool]] = []
    policy: Extension[Any] = Extension(
        Manifest(
            id="by_mode",
            version="1.0.0",
            name="By mode",
            description="Turn policy for tests.",
            capabilities=frozenset({"turns:control"}),
            hooks=Hooks(validate_turn=True),
        )
    )

    @policy.validate_turn
    def rule(request: TurnRequest, config: BaseModel) -> TurnDecision:
        asked.append((request.turn_holder_id, request.turn_number, request.in_turn_by_mode))
        if len(asked) == 1:
            root.chat_service().grant_turn(
                Identity(alice.user_id, alice.name), request.chat_id, carol.user_id
            )
        return TurnDecision(allow=request.in_turn_by_mode, reason="as the mode says")

    with registered(policy):
        chat_id = api.create_chat(alice, turn_mode="moderated")["chat_id"]
        for member in (bob, carol):
            api.post(f"/chats/{chat_id}/members", member)
        install(api, alice, chat_id, "by_mode")
        granted = api.post(f"/chats/{chat_id}/turn", alice, body={"participant_id": bob.user_id})
        assert granted.status == 200, granted.text

        # When Bob posts
        posted = api.send(bob, chat_id, "my turn, I was told")

    # Then the hook was asked again on the chat as it is now, and Bob's post is refused: the floor is
    # Carol's (before the fix the first ruling, made while Bob held it, was reused and stored it)
    assert [(holder, in_turn) for holder, _, in_turn in asked] == [
        (bob.user_id, True),
        (carol.user_id, False),
    ]
    assert_error(posted, 409, "not_your_turn")
    assert api.get(f"/chats/{chat_id}/messages", alice).json["items"] == []


# -- what extensions send: capabilities, installs, forged sources ----------------------------------


def put_raw(source: str, data: Any, chat_id: str, actor: Actor) -> None:
    envelope = new_event(data, chat_id=chat_id, actor=actor)
    boto3.client("events", region_name="us-east-1").put_events(
        Entries=[
            {
                "EventBusName": settings().bus_name,
                "Source": source,
                "DetailType": envelope.event_type,
                "Detail": envelope.to_json(),
            }
        ]
    )


WELCOME = Actor(id="welcome", kind="extension", name="Welcome bot")
MODERATION = Actor(id="moderation", kind="extension", name="Moderation")


@pytest.mark.parametrize(
    ("source", "actor", "installed", "reason"),
    [
        ("parley.ext.welcome", MODERATION, True, "source_mismatch"),  # another extension's source
        ("parley.ext.moderation", MODERATION, True, "missing_capability"),  # no messages:write
        # not installed: refused without a chat write (test_bogus_events_for_a_chat_where_...)
    ],
    ids=["forged-source", "missing-capability"],
)
def test_the_core_refuses_and_records_what_an_extension_may_not_send(
    api: Api, bus: Bus, alice: User, source: str, actor: Actor, installed: bool, reason: str
) -> None:
    # Given a chat (with welcome and moderation installed, or nothing)
    chat_id = api.create_chat(alice)["chat_id"]
    if installed:
        install(api, alice, chat_id, "welcome")
        install(api, alice, chat_id, "moderation")

    # When a bot message request arrives on the bus
    request = ExtensionMessageRequested(extension_id=actor.id, request_id="r-1", text="I am in")
    put_raw(source, request, chat_id, actor)
    bus.pump()

    # Then nothing was posted, and the refusal is in the chat's log with its reason
    assert messages(api, alice, chat_id) == []
    [rejected] = of_type(bus, "ExtensionEventRejected", chat_id)
    assert rejected["detail"]["data"]["reason"].startswith(reason)
    assert rejected["detail"]["data"]["rejected_event_type"] == "ExtensionMessageRequested"
    assert rejected["source"] == "parley.core"


def test_a_forged_core_event_changes_nothing(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat with welcome enabled
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "welcome")
    before = api.get(f"/chats/{chat_id}/events", alice).json["items"]

    # When an extension puts core events on the bus under its own source (IAM forbids the core's)
    joined = UserJoined.model_validate(
        {
            "participant": {"id": "user-eve", "name": "Eve", "kind": "human", "role": "owner"},
            "turn_mode": "free",
        }
    )
    put_raw("parley.ext.welcome", joined, chat_id, SYSTEM)
    bus.pump()

    # Then no core rule matched it: the chat's log and messages are as they were
    assert api.get(f"/chats/{chat_id}/events", alice).json["items"] == before
    assert messages(api, alice, chat_id) == []
    [forged] = [e for e in of_type(bus, "UserJoined", chat_id) if e["source"] != "parley.core"]

    # and were one handed to a consumer anyway, the core's consumers and the SDK both drop it
    seen: list[Any] = []
    consumer: Any = sqs_consumer(route("turns"), seen.append)
    queued = [{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": json.dumps(forged)}]
    result = consumer(
        sqs_event(queued, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1"),
        LambdaContext.for_function("turns"),
    )
    assert result == {"batchItemFailures": []}
    assert seen == []
    assert welcome.extension.deliver(forged) is False
    bus.pump()
    assert messages(api, alice, chat_id) == []


# -- circuit breaker -------------------------------------------------------------------------------


def _failing_extension(fail: list[bool]) -> Extension[Any]:
    ext: Extension[Any] = Extension(
        Manifest(
            id="flaky",
            version="1.0.0",
            name="Flaky",
            description="Fails while told to.",
            events=("MessageStored",),
            capabilities=frozenset({"messages:write"}),
        )
    )

    @ext.on("MessageStored")
    def handle(event: Envelope[Any], ctx: Context[Any]) -> None:
        if fail[0]:
            raise RuntimeError("downstream is down")

    return ext


def test_repeated_failures_open_the_circuit_and_a_moderator_closes_it(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a threshold of 3 and an extension that fails
    monkeypatch.setenv("PARLEY_EXTENSION_FAILURE_THRESHOLD", "3")
    root.reset()
    fail = [True]
    flaky = _failing_extension(fail)
    with registered(flaky):
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "flaky")

        # When it fails on three messages in a row (each report reaches the core through the bus)
        for n in range(3):
            api.send(alice, chat_id, f"m{n}")
            with pytest.raises(RuntimeError):
                deliver(flaky, of_type(bus, "MessageStored", chat_id)[-1:])
            bus.pump()

        # Then its circuit is open on this chat: disabled, with the reason, and moderators are told
        state = api.get(f"/chats/{chat_id}/extensions/flaky", alice).json
        assert state["status"] == "circuit_open"
        assert state["consecutive_failures"] == 3
        [disabled] = of_type(bus, "ExtensionDisabled", chat_id)
        assert "3 consecutive failures" in disabled["detail"]["data"]["reason"]
        assert len(of_type(bus, "ExtensionFailed", chat_id)) == 3

        # and further events are not delivered to it at all
        api.send(alice, chat_id, "while open")
        assert deliver(flaky, of_type(bus, "MessageStored", chat_id)[-1:]) == [False]

        # When a moderator enables it again (and it works now)
        fail[0] = False
        install(api, alice, chat_id, "flaky")
        api.send(alice, chat_id, "after")
        ran = deliver(flaky, of_type(bus, "MessageStored", chat_id)[-1:])

    # Then it is enabled with a fresh count, and it runs
    state = api.get(f"/chats/{chat_id}/extensions/flaky", alice).json
    assert (state["status"], state["consecutive_failures"]) == ("enabled", 0)
    assert ran == [True]


def test_a_success_after_failures_resets_the_count(api: Api, bus: Bus, alice: User) -> None:
    fail = [True]
    flaky = _failing_extension(fail)
    with registered(flaky):
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "flaky")
        api.send(alice, chat_id, "one")
        with pytest.raises(RuntimeError):
            deliver(flaky, of_type(bus, "MessageStored", chat_id)[-1:])
        bus.pump()
        assert api.get(f"/chats/{chat_id}/extensions/flaky", alice).json["consecutive_failures"] == 1

        fail[0] = False
        api.send(alice, chat_id, "two")
        deliver(flaky, of_type(bus, "MessageStored", chat_id)[-1:])
        bus.pump()

    assert api.get(f"/chats/{chat_id}/extensions/flaky", alice).json["consecutive_failures"] == 0
    assert len(of_type(bus, "ExtensionRecovered", chat_id)) == 1


def test_a_failure_report_delivered_twice_counts_once(api: Api, bus: Bus, alice: User) -> None:
    flaky = _failing_extension([True])
    with registered(flaky):
        # Given one failure of the extension, reported and counted
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "flaky")
        api.send(alice, chat_id, "one")
        with pytest.raises(RuntimeError):
            deliver(flaky, of_type(bus, "MessageStored", chat_id)[-1:])
        bus.pump()
        assert api.get(f"/chats/{chat_id}/extensions/flaky", alice).json["consecutive_failures"] == 1
        # When the gateway gets the same report again (its queue delivers at least once)
        [report] = of_type(bus, "ExtensionFailed", chat_id)
        assert root.extension_service().accept(parse_detail(report["detail"]), report["source"]) is None
    # Then the failure still counts once toward the circuit
    assert api.get(f"/chats/{chat_id}/extensions/flaky", alice).json["consecutive_failures"] == 1


def test_a_raising_extension_never_blocks_the_core_flow(
    api: Api, bus: Bus, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given welcome failing on every event, in a round-robin chat
    def boom(event: Envelope[Any], ctx: Context[Any]) -> None:
        raise RuntimeError("welcome is broken")

    monkeypatch.setitem(welcome.extension._handlers, "UserJoined", boom)
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    install(api, alice, chat_id, "welcome")

    # When Bob joins (welcome fails on it) and the bus settles
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()

    # Then the core handlers did their part: the join was pushed and the turn moved on
    assert of_type(bus, "ExtensionFailed", chat_id)
    alice_posts = api.send(alice, chat_id, "first")
    assert alice_posts.status == 201
    bus.pump()
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == bob.user_id
    assert api.send(bob, chat_id, "second").status == 201


# -- refusals that can never succeed are recorded and acked; bogus events cost no chat write -------


def deliver_gateway(queued: list[dict[str, Any]]) -> list[dict[str, str]]:
    event = sqs_event(queued, "arn:aws:sqs:us-east-1:123456789012:parley-extension_gateway", "us-east-1")
    result = load_handler("extension_gateway")(event, LambdaContext.for_function("extension_gateway"))
    failures: list[dict[str, str]] = result["batchItemFailures"]
    return failures


def test_a_greeting_longer_than_the_chat_allows_is_rejected_not_dead_lettered(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat that accepts 10 characters, with welcome enabled
    chat_id = api.create_chat(alice, settings={"max_message_length": 10})["chat_id"]
    install(api, alice, chat_id, "welcome")
    bus.pump()

    # When Bob joins and welcome's greeting ("Welcome Bob!", 12 characters) reaches the gateway
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()

    # Then no message was stored, and the refusal is in the chat's log with why
    assert messages(api, alice, chat_id) == []
    [rejected] = of_type(bus, "ExtensionEventRejected", chat_id)
    assert rejected["detail"]["data"]["reason"].startswith("invalid_request: text is 12 characters")
    assert rejected["detail"]["data"]["extension_id"] == "welcome"


@pytest.mark.parametrize(
    ("text", "completed", "reason"),
    [("   ", False, "invalid_request"), ("hello", True, "chat_completed")],
    ids=["blank-text", "completed-chat"],
)
def test_a_bot_message_that_can_never_be_stored_is_acked_and_recorded_once(
    api: Api, bus: Bus, alice: User, text: str, completed: bool, reason: str
) -> None:
    # Given a chat with welcome enabled (completed, or not)
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "welcome")
    if completed:
        assert api.post(f"/chats/{chat_id}/complete", alice).status == 200
    bus.pump()

    # When welcome asks for a message the chat can never take
    put_raw(
        "parley.ext.welcome",
        ExtensionMessageRequested(extension_id="welcome", request_id="r-1", text=text),
        chat_id,
        WELCOME,
    )
    queued = bus.raw_queue("extension_gateway")
    assert len(queued) == 1

    # Then the gateway acks it (no retry, no dead letter) and records the refusal with its reason
    assert deliver_gateway(queued) == []
    bus.pump()
    [rejected] = of_type(bus, "ExtensionEventRejected", chat_id)
    assert rejected["detail"]["data"]["reason"].startswith(reason)
    assert messages(api, alice, chat_id) == []


@pytest.mark.parametrize("enabled", [None, False], ids=["not-installed", "disabled"])
def test_bogus_events_for_a_chat_where_the_sender_is_not_enabled_cost_no_chat_write(
    api: Api, bus: Bus, alice: User, enabled: bool | None
) -> None:
    # Given a chat where welcome is not installed (or installed, disabled)
    chat_id = api.create_chat(alice)["chat_id"]
    if enabled is not None:
        response = api.put(
            f"/chats/{chat_id}/extensions/welcome", alice, body={"enabled": enabled, "config": {}}
        )
        assert response.status == 201, response.text
    bus.pump()
    version = ChatRecord.get(chat_id, consistent_read=True).version
    log = len(api.get(f"/chats/{chat_id}/events", alice).json["items"])

    # When welcome floods it with bot message requests
    for i in range(5):
        request = ExtensionMessageRequested(extension_id="welcome", request_id=f"r-{i}", text="spam")
        put_raw("parley.ext.welcome", request, chat_id, WELCOME)
    queued = bus.raw_queue("extension_gateway")
    assert len(queued) == 5

    # Then each is acked and refused without a single write to the chat or its log
    assert deliver_gateway(queued) == []
    assert ChatRecord.get(chat_id, consistent_read=True).version == version
    assert len(api.get(f"/chats/{chat_id}/events", alice).json["items"]) == log
    assert messages(api, alice, chat_id) == []


def test_a_bot_message_redriven_after_the_dedupe_window_is_not_posted_twice(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given welcome enabled, and one of its bot message requests applied
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "welcome")
    bus.pump()
    request = ExtensionMessageRequested(extension_id="welcome", request_id="r-1", text="hello all")
    put_raw("parley.ext.welcome", request, chat_id, WELCOME)
    queued = bus.raw_queue("extension_gateway")
    assert deliver_gateway(queued) == []

    # When every expiring idempotency record is gone (TTL, 8 days on) and the request is redriven
    expire_idempotency_records(timedelta(days=8))
    assert deliver_gateway(queued) == []

    # Then the bot message is still stored once
    assert [m["text"] for m in messages(api, alice, chat_id)] == ["hello all"]
