"""Slash commands on moto: a post naming an enabled extension's command reaches that extension alone,
as SlashCommandInvoked, and is no message; a retried post is the same command, handled once; any other
`/word` is a message; the same over the WebSocket; the chat lists its commands; two enabled extensions
never answer one name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parley import root
from parley.adapters.dynamodb import ChatRepository
from parley.extensions.manifest import Manifest, SlashCommand
from parley.extensions.sdk import CommandCall, Context, Extension
from parley.topology import queue_routes
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered
from tests.support.faults import fault, put_events_failing
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets


def asker(extension_id: str = "asker", *names: str) -> tuple[Extension[Any], list[CommandCall]]:
    """An extension answering ``/ask`` (or ``names``) by noting each call it got."""
    commands = tuple(
        SlashCommand(name=n, description=f"{n} something", usage="<words>") for n in names or ("ask",)
    )
    extension: Extension[Any] = Extension(
        Manifest(
            id=extension_id,
            version="1.0.0",
            name="Asker",
            description="Notes commands.",
            events=("SlashCommandInvoked", "MessageStored"),
            commands=commands,
        )
    )
    calls: list[CommandCall] = []
    for command in commands:
        extension.command(command.name)(lambda call, ctx: calls.append(call))
    return extension, calls


def listener() -> Extension[Any]:
    """Subscribes to SlashCommandInvoked without declaring a command: it must never get one."""
    extension: Extension[Any] = Extension(
        Manifest(
            id="listener",
            version="1.0.0",
            name="Listener",
            description="Listens.",
            events=("SlashCommandInvoked", "MessageStored"),
        )
    )

    @extension.on("SlashCommandInvoked")
    def overheard(event: Any, ctx: Context[Any]) -> None:
        raise AssertionError("a command reached an extension that does not declare it")

    return extension


def enable(api: Api, user: User, chat_id: str, extension_id: str) -> Any:
    return api.put(f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": True, "config": {}})


def routed(bus: Bus, route_name: str) -> list[dict[str, Any]]:
    """What the route's rule put on its queue (taken off it, undelivered)."""
    return [json.loads(m["Body"]) for m in bus.raw_queue(route_name)]


def invoked(bus: Bus) -> list[dict[str, Any]]:
    return [e for e in bus.emitted() if e["detail-type"] == "SlashCommandInvoked"]


def test_a_command_goes_to_its_extension_alone_and_is_no_message(api: Api, bus: Bus, alice: User) -> None:
    extension, calls = asker()
    other = listener()
    with registered(extension, other):
        # Given a chat with the asker and a listener enabled
        chat_id = api.create_chat(alice)["chat_id"]
        assert enable(api, alice, chat_id, "asker").status == 201
        assert enable(api, alice, chat_id, "listener").status == 201
        bus.pump()
        before = api.get(f"/chats/{chat_id}", alice).json["last_event_sequence"]

        # When Alice types the command, with quoted arguments
        typed = "/ask \"Lunch today?\" Pizza 'Sushi bar'"
        answer = api.send(alice, chat_id, typed, client_message_id="c-1")

        # Then the answer is 202 with the command's id and its parsed args
        assert answer.status == 202, answer.text
        assert answer.json["command"] == "ask"
        assert answer.json["extension_id"] == "asker"
        assert answer.json["args"] == ["Lunch today?", "Pizza", "Sushi bar"]
        # And one SlashCommandInvoked is on the bus, routed to the asker only
        (event,) = invoked(bus)
        assert event["source"] == "parley.core"
        assert event["detail"]["metadata"]["extensions"] == ["asker"]
        assert event["detail"]["metadata"]["actor"]["id"] == alice.user_id
        assert event["detail"]["data"]["command_id"] == answer.json["command_id"]
        assert event["detail"]["data"]["raw"] == typed
        # And the asker's handler got it with typed args; the listener is never handed it
        assert deliver(extension, [event]) == [True]
        assert [(c.command_id, c.positional, c.actor.id) for c in calls] == [
            (answer.json["command_id"], ("Lunch today?", "Pizza", "Sushi bar"), alice.user_id)
        ]
        # And nothing was stored: no message, no event-log row
        assert api.get(f"/chats/{chat_id}/messages", alice).json["items"] == []
        assert api.get(f"/chats/{chat_id}", alice).json["last_event_sequence"] == before

        # When the client retries the post whose answer it lost
        again = api.send(alice, chat_id, typed, client_message_id="c-1")
        # Then it is the same command (same id, same event id), and the asker handles it once
        assert again.status == 202
        assert again.json["command_id"] == answer.json["command_id"]
        first, second = invoked(bus)
        assert first["detail"]["metadata"]["event_id"] == second["detail"]["metadata"]["event_id"]
        assert deliver(extension, [second]) == [False]
        assert len(calls) == 1


def test_unknown_commands_escapes_and_whispers_are_messages(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    extension, calls = asker()
    with registered(extension):
        chat_id = api.create_chat(alice)["chat_id"]
        assert api.post(f"/chats/{chat_id}/members", bob).status == 200
        enable(api, alice, chat_id, "asker")
        # When Alice posts an unknown /word, an escaped command and a whisper that starts like one
        texts = [
            api.send(alice, chat_id, "/shrug it happens"),
            api.send(alice, chat_id, "//ask is how you ask"),
            api.send(alice, chat_id, "/ask between us", to=[bob.user_id]),
        ]
    # Then each is a message, the escaped one without its first slash
    assert [t.status for t in texts] == [201, 201, 201]
    assert [t.json["text"] for t in texts] == ["/shrug it happens", "/ask is how you ask", "/ask between us"]
    assert invoked(bus) == []
    assert calls == []


def test_a_disabled_extension_answers_no_command_and_bad_args_or_a_completed_chat_are_refused(
    api: Api, bus: Bus, alice: User
) -> None:
    extension, _ = asker()
    with registered(extension):
        chat_id = api.create_chat(alice)["chat_id"]
        # Given the asker registered but not enabled on the chat: /ask is a message
        assert api.send(alice, chat_id, "/ask anyone?").status == 201
        enable(api, alice, chat_id, "asker")
        # When a command's quote is left open, Then it is refused, naming the text
        assert_error(api.send(alice, chat_id, '/ask "Lunch?'), 422, "invalid_request", "text")
        # And a completed chat refuses commands as it refuses messages
        assert api.post(f"/chats/{chat_id}/complete", alice).status == 200
        assert_error(api.send(alice, chat_id, "/ask late"), 409, "chat_completed")
    assert invoked(bus) == []


def test_the_chat_lists_its_commands_and_refuses_a_second_extension_for_one_name(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    first, _ = asker("asker", "ask", "tell")
    rival, _ = asker("rival", "tell")
    with registered(first, rival):
        chat_id = api.create_chat(alice)["chat_id"]
        assert api.post(f"/chats/{chat_id}/members", bob).status == 200
        enable(api, alice, chat_id, "asker")
        # When a moderator enables a second extension that declares /tell
        refused = enable(api, alice, chat_id, "rival")
        # Then it is refused, naming the command and who answers it
        body = assert_error(refused, 422, "invalid_request", "enabled")
        assert "/tell (asker)" in body["message"]
        # And members see the chat's commands, each once, with who answers it
        listed = api.get(f"/chats/{chat_id}/commands", bob)
        assert listed.status == 200
        assert [(c["name"], c["extension_id"], c["usage"]) for c in listed.json["items"]] == [
            ("ask", "asker", "<words>"),
            ("tell", "asker", "<words>"),
        ]
        # And an outsider learns nothing
        assert api.get(f"/chats/{chat_id}/commands", User("user-eve", "Eve")).status == 404


@pytest.fixture
def sockets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Sockets:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    return Sockets(api, gateway)


def test_a_command_over_the_socket_is_acknowledged_with_its_id(
    api: Api, bus: Bus, sockets: Sockets, alice: User
) -> None:
    extension, calls = asker()
    with registered(extension):
        chat_id = api.create_chat(alice)["chat_id"]
        enable(api, alice, chat_id, "asker")
        connection = sockets.open(alice, "alice-1")
        sockets.subscribe(connection, chat_id)
        # When Alice sends the command over her socket
        ack = sockets.send(
            connection, action="sendMessage", chat_id=chat_id, text="/ask now", client_message_id="w-1"
        )
        # Then the Ack names the command, and the same invocation is on the bus for the asker
        assert ack["type"] == "Ack"
        assert ack["data"]["command"]["command"] == "ask"
        assert ack["data"]["command"]["args"] == ["now"]
        (event,) = invoked(bus)
        assert event["detail"]["data"]["command_id"] == ack["data"]["command"]["command_id"]
        assert deliver(extension, [event]) == [True]
    assert [c.positional for c in calls] == [("now",)]
    assert api.get(f"/chats/{chat_id}/messages", alice).json["items"] == []


def test_on_the_bus_only_the_declaring_extensions_queue_gets_the_command(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given a chat with the shipped poll, sentiment and welcome enabled (and analytics by default)
    chat_id = api.create_chat(alice)["chat_id"]
    for extension_id in ("poll", "sentiment", "welcome"):
        assert enable(api, alice, chat_id, extension_id).status == 201
    bus.pump()
    # When Alice types /poll
    assert api.send(alice, chat_id, '/poll "Lunch?" Pizza Sushi').status == 202
    # Then of every route's queue, only the poll's holds the command: the rules matched nothing else
    holding = {
        route.name
        for route in queue_routes()
        if any(e["detail-type"] == "SlashCommandInvoked" for e in routed(bus, route.name))
    }
    assert holding == {"ext_poll"}


def test_a_command_is_outside_the_turn_order_but_counts_toward_the_rate_limit(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    extension, _ = asker()
    with registered(extension):
        # Given a moderated chat where Bob has not the floor, and a rate limit of one message a minute
        chat_id = api.create_chat(
            alice, turn_mode="moderated", settings={"rate_limit_messages": 1, "rate_limit_window_seconds": 60}
        )["chat_id"]
        assert api.post(f"/chats/{chat_id}/members", bob).status == 200
        enable(api, alice, chat_id, "asker")
        assert_error(api.send(bob, chat_id, "may I?"), 409, "not_your_turn")
        # When Bob types commands, Then the first goes through out of turn (nothing is posted)
        assert api.send(bob, chat_id, "/ask 0").status == 202
        # And the next is over his rate limit, which commands share with posts: refused, never sent
        assert_error(api.send(bob, chat_id, "/ask 1"), 429, "rate_limited")
    assert len(invoked(bus)) == 1


def test_a_command_retried_after_a_503_counts_once_toward_the_rate_limit(
    api: Api, bus: Bus, alice: User
) -> None:
    extension, calls = asker()
    with fault("events.PutEvents") as put_events:
        root.reset()  # the publisher's client is built inside the fault, so the hook reaches it
        with registered(extension):
            # Given a chat with a rate limit of two messages a minute
            settings = {"rate_limit_messages": 2, "rate_limit_window_seconds": 60}
            chat_id = api.create_chat(alice, settings=settings)["chat_id"]
            enable(api, alice, chat_id, "asker")
            # When the bus refuses Alice's command: 503, retry with the same client_message_id
            put_events.arm(put_events_failing())
            refused = api.send(alice, chat_id, "/ask 0", client_message_id="c-0")
            assert (refused.status, refused.json["error"]["code"]) == (503, "contention")
            put_events.disarm()
            # And she retries it twice (the first retry's answer was lost too)
            retries = [api.send(alice, chat_id, "/ask 0", client_message_id="c-0") for _ in range(2)]
            assert [r.status for r in retries] == [202, 202]
            # Then it counted once: another command still fits in the limit, the one after is over it
            assert api.send(alice, chat_id, "/ask 1", client_message_id="c-1").status == 202
            assert_error(api.send(alice, chat_id, "/ask 2", client_message_id="c-2"), 429, "rate_limited")
            # And a retry of a counted command is still taken at the limit (it was charged already)
            assert api.send(alice, chat_id, "/ask 0", client_message_id="c-0").status == 202
            # And the retried command is handled once (four sent: three of them the same command)
            assert sorted(deliver(extension, invoked(bus))) == [False, False, True, True]
    assert sorted(c.positional for c in calls) == [("0",), ("1",)]


def test_a_post_that_starts_with_a_slash_reads_the_chat_once(
    api: Api, bus: Bus, sockets: Sockets, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension, _ = asker()
    with registered(extension):
        # Given a chat with the asker enabled, and Alice's socket on it
        chat_id = api.create_chat(alice)["chat_id"]
        enable(api, alice, chat_id, "asker")
        connection = sockets.open(alice, "alice-1")
        sockets.subscribe(connection, chat_id)
        loads: list[str] = []
        load = ChatRepository.load

        def counted(self: ChatRepository, loaded_id: str) -> Any:
            loads.append(loaded_id)
            return load(self, loaded_id)

        monkeypatch.setattr(ChatRepository, "load", counted)
        # When Alice posts a /word no extension declares, over HTTP and over her socket
        assert api.send(alice, chat_id, "/shrug it happens").status == 201
        ack = sockets.send(
            connection, action="sendMessage", chat_id=chat_id, text="/shrug again", client_message_id="w-1"
        )
        # Then each is a message whose post read the chat once: the command check's read is the post's
        assert ack["type"] == "Ack"
        assert ack["data"]["message"]["text"] == "/shrug again"
        assert loads == [chat_id, chat_id]
        # And a command reads it once too: the check's read is its charge's
        assert api.send(alice, chat_id, "/ask once", client_message_id="c-1").status == 202
        assert loads == [chat_id] * 3
