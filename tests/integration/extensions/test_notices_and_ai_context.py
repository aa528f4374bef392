"""What extensions change for people: the circuit-open notice reaches moderators only, and
`ai:context` reaches the AI participants' prompt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.local.dispatch import LambdaContext, sqs_event
from infra.local.functions import load_handler
from parley import root
from parley.adapters.connections import ConnectionRepository
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.memory import InMemoryPusher
from parley.ai.providers import ModelRequest, StreamEvent, TextDelta, Usage
from parley.catalog import Envelope, parse_detail
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from parley.realtime.fanout import Broadcaster
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets


@pytest.fixture
def sockets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Sockets:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    monkeypatch.setenv("PARLEY_EXTENSION_FAILURE_THRESHOLD", "1")
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    return Sockets(api, gateway)


def of_type(bus: Bus, detail_type: str, chat_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in bus.emitted()
        if e["detail-type"] == detail_type and e["detail"]["metadata"]["chat_id"] == chat_id
    ]


def test_an_open_circuit_is_pushed_to_moderators_only(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    # Given Alice (owner) and Bob (member) subscribed to a chat with a failing extension
    broken: Extension[Any] = Extension(
        Manifest(id="broken", version="1.0.0", name="Broken", description="Fails.", events=("MessageStored",))
    )

    @broken.on("MessageStored")
    def fail(event: Envelope[Any], ctx: Context[Any]) -> None:
        raise RuntimeError("always")

    with registered(broken):
        chat_id = api.create_chat(alice)["chat_id"]
        api.post(f"/chats/{chat_id}/members", bob)
        assert (
            api.put(f"/chats/{chat_id}/extensions/broken", alice, body={"enabled": True, "config": {}}).status
            == 201
        )
        bus.pump()
        for conn, user in {"alice-1": alice, "bob-1": bob}.items():
            sockets.open(user, conn)
            sockets.subscribe(conn, chat_id)

        # When it fails once (threshold 1) and the report reaches the core
        api.send(bob, chat_id, "hello")
        with pytest.raises(RuntimeError):
            deliver(broken, of_type(bus, "MessageStored", chat_id))
        bus.pump()

    # Then only the moderator's socket got the notice, and both got the message
    assert "ExtensionDisabled" in sockets.gateway.types("alice-1")
    assert "ExtensionDisabled" not in sockets.gateway.types("bob-1")
    assert "MessageStored" in sockets.gateway.types("bob-1")
    notice = next(f for f in sockets.gateway.frames("alice-1") if f["type"] == "ExtensionDisabled")
    assert notice["data"]["extension_id"] == "broken"

    # and a member resuming from the log is not replayed the notice either
    sockets.open(bob, "bob-2")
    sockets.subscribe("bob-2", chat_id, after_sequence=0)
    sockets.open(alice, "alice-2")
    sockets.subscribe("alice-2", chat_id, after_sequence=0)
    assert "ExtensionDisabled" not in sockets.gateway.types("bob-2")
    assert "ExtensionDisabled" in sockets.gateway.types("alice-2")

    # and the event log over HTTP shows it to the moderator only, whatever the page size
    assert "ExtensionDisabled" in log_types(api, alice, chat_id, limit=100)
    for limit in (1, 100):
        member_sees = log_types(api, bob, chat_id, limit=limit)
        assert "ExtensionDisabled" not in member_sees
        assert "MessageStored" in member_sees


def log_types(api: Api, user: User, chat_id: str, *, limit: int) -> list[str]:
    """Every event type of the chat's log the user reads over HTTP, following the pages."""
    seen: list[str] = []
    query: dict[str, Any] = {"limit": limit}
    while True:
        response = api.get(f"/chats/{chat_id}/events", user, query=query)
        assert response.status == 200, response.text
        seen += [item["metadata"]["event_type"] for item in response.json["items"]]
        if response.json["next"] is None:
            return seen
        query = {"limit": limit, "after": response.json["next"]}


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        self.requests.append(request)
        yield TextDelta("Nine.")
        yield Usage(10, 1)


def test_ai_context_from_an_extension_reaches_the_ai_participants_prompt(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an extension with `ai:context` that sets a fact when it is enabled
    facts: Extension[Any] = Extension(
        Manifest(
            id="facts",
            version="1.0.0",
            name="Facts",
            description="Tells AI participants the house rules.",
            capabilities=frozenset({"ai:context"}),
        )
    )

    @facts.on("ExtensionActivated")
    def activated(event: Envelope[Any], ctx: Context[Any]) -> None:
        ctx.set_ai_context("The vault opens at nine. " + "x" * 3000)

    provider = Recording()
    monkeypatch.setattr(root, "provider_for", lambda participant: provider)
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    with registered(facts):
        chat = api.create_chat(
            alice, ai_participants=[{"id": "oracle", "name": "Oracle", "persona": "Riddles."}]
        )
        chat_id = chat["chat_id"]
        api.put(f"/chats/{chat_id}/extensions/facts", alice, body={"enabled": True, "config": {}})
        deliver(facts, of_type(bus, "ExtensionActivated", chat_id))
        bus.pump()

        # When Alice asks the Oracle
        api.send(alice, chat_id, "@Oracle when does the vault open?")
        requests = of_type(bus, "AIResponseRequested", chat_id)
        assert requests
        queued = [{"MessageId": "1", "ReceiptHandle": "r", "Body": json.dumps(requests[-1])}]
        load_handler("ai_responder")(
            sqs_event(queued, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1"),
            LambdaContext.for_function("ai_responder"),
        )

    # Then its system prompt carries the contribution, bounded, and the contribution is on record
    [request] = provider.requests
    assert "[facts] The vault opens at nine." in request.system
    assert len(request.system) < 2000 + 1000
    [recorded] = of_type(bus, "AIContextContributed", chat_id)[-1:]
    assert recorded["source"] == "parley.core"
    assert len(recorded["detail"]["data"]["text"]) == 2000


def test_the_broadcaster_reads_a_chat_once_per_roster_version(
    api: Api, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a broadcaster that counts its chat reads, and Alice's and Bob's subscribed sockets
    root.bound_settings()
    repository = ChatRepository("us-east-1")  # the broadcaster's own, so only its reads are counted
    reads: list[str] = []
    original = repository.load

    def counting(chat_id: str) -> Any:
        reads.append(chat_id)
        return original(chat_id)

    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    connections = ConnectionRepository()
    for conn, user in {"alice-1": alice, "bob-1": bob}.items():
        connections.add_connection(conn, user_id=user.user_id, name=user.name, now=datetime.now(UTC))
        connections.subscribe(conn, chat_id, user_id=user.user_id, now=datetime.now(UTC))
    pusher = InMemoryPusher()
    broadcaster = Broadcaster(connections, repository, pusher, concurrency=2)
    monkeypatch.setattr(repository, "load", counting)

    def broadcast_last() -> None:
        detail = api.get(f"/chats/{chat_id}/events", alice).json["items"][-1]
        broadcaster.broadcast(parse_detail({"metadata": detail["metadata"], "data": detail["data"]}))

    # When three messages are broadcast, then Bob leaves, then Alice posts again
    for text in ("one", "two", "three"):
        api.send(alice, chat_id, text)
        broadcast_last()
    api.delete(f"/chats/{chat_id}/members/me", bob)
    broadcast_last()
    api.send(alice, chat_id, "after Bob left")
    broadcast_last()

    # Then the broadcaster read the chat once for the first roster and once after the leave changed it
    assert reads.count(chat_id) == 2
    # and Bob got the three messages but nothing from the moment he left; Alice got everything
    assert len(pusher.frames["bob-1"]) == 3
    assert len(pusher.frames["alice-1"]) == 5
