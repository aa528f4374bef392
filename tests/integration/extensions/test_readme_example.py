"""README's "Write an extension" code blocks, run as written: the docs cannot rot.

Each block is marked in README.md with ``<!-- example: <name> -->`` before its fenced block.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from parley.extensions.manifest import Hooks, Manifest
from parley.extensions.sdk import Extension
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered
from tests.support.readme import example


@pytest.fixture
def greeter() -> Iterator[types.ModuleType]:
    """The welcome-bot example as the module an author would save."""
    module = types.ModuleType("readme_greeter")
    sys.modules[module.__name__] = module
    try:
        exec(compile(example("welcome-bot"), "README.md:welcome-bot", "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[module.__name__]


def install(api: Api, user: User, chat_id: str, extension_id: str, config: dict[str, Any]) -> None:
    response = api.put(
        f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": True, "config": config}
    )
    assert response.status == 201, response.text


def texts(api: Api, user: User, chat_id: str) -> list[tuple[str, str]]:
    items = api.get(f"/chats/{chat_id}/messages", user).json["items"]
    return [(m["sender_name"], m["text"]) for m in items]


def test_the_welcome_bot_example_greets_a_joiner(
    api: Api, bus: Bus, alice: User, bob: User, greeter: types.ModuleType
) -> None:
    extension = greeter.extension
    assert greeter.lambda_handler == extension.lambda_handler
    with registered(extension):
        # Given a chat where Alice installed the README's extension with her own greeting
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "greeter", {"greeting": "Hi {name}!"})

        # When Bob joins, the event reaches the extension (as its queue would) and the bus settles
        api.post(f"/chats/{chat_id}/members", bob)
        ran = deliver(extension, bus.emitted(), **{"detail-type": "UserJoined"})
        bus.pump()

    # Then it ran for Bob's join only (Alice joined before it was enabled), and the greeting is stored
    assert ran == [False, True]
    assert texts(api, bob, chat_id) == [("Greeter", "Hi Bob!")]


def test_the_examples_config_is_published_and_unknown_settings_are_refused(
    api: Api, alice: User, greeter: types.ModuleType
) -> None:
    with registered(greeter.extension):
        listed = {e["id"]: e for e in api.get("/extensions", alice).json["items"]}
        chat_id = api.create_chat(alice)["chat_id"]
        response = api.put(
            f"/chats/{chat_id}/extensions/greeter", alice, body={"config": {"greting": "typo"}}
        )

    schema = listed["greeter"]["config_schema"]
    assert schema["properties"]["greeting"]["default"] == "Hello {name}, welcome aboard!"
    assert listed["greeter"]["capabilities"] == ["messages:write"]
    error = assert_error(response, 422, "invalid_config")
    assert [f["field"] for f in error["fields"]] == ["config.greting"]


def test_the_life_cycle_example_announces_the_extension_when_enabled(
    api: Api, bus: Bus, alice: User, greeter: types.ModuleType
) -> None:
    # Given the welcome bot with the README's life-cycle handler added to its module
    exec(compile(example("life-cycle"), "README.md:life-cycle", "exec"), greeter.__dict__)
    extension = greeter.extension
    with registered(extension):
        # When Alice enables it on a chat
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "greeter", {})
        activated = [
            e
            for e in bus.emitted()
            if e["detail-type"] == "ExtensionActivated" and e["detail"]["data"]["extension_id"] == "greeter"
        ]
        ran = deliver(extension, activated)
        bus.pump()

    # Then it announced itself
    assert ran == [True]
    assert texts(api, alice, chat_id) == [("Greeter", "Greeter is on: I will welcome new members.")]


def test_the_moderation_hook_example_rejects_spam_before_anyone_sees_it(
    api: Api, alice: User, greeter: types.ModuleType
) -> None:
    # Given an extension declared as the README says (capability and hook), with the example's hook
    namespace = dict(greeter.__dict__)
    namespace["extension"] = Extension(
        Manifest(
            id="spamguard",
            version="1.0.0",
            name="Spam guard",
            description="The README's moderation hook.",
            capabilities=frozenset({"messages:moderate"}),
            hooks=Hooks(moderate=True),
            config_model=greeter.Config,
        )
    )
    exec(compile(example("moderation-hook"), "README.md:moderation-hook", "exec"), namespace)
    with registered(namespace["extension"]):
        chat_id = api.create_chat(alice)["chat_id"]
        install(api, alice, chat_id, "spamguard", {})

        # When Alice posts spam, then something else
        refused = api.send(alice, chat_id, "Buy SPAM now")
        allowed = api.send(alice, chat_id, "Lunch at noon?")

    # Then the spam was refused with the hook's reason and never stored; the rest went through
    error = assert_error(refused, 422, "message_rejected")
    assert "no spam here" in error["message"]
    assert allowed.status == 201, allowed.text
    assert texts(api, alice, chat_id) == [("Alice", "Lunch at noon?")]


def test_the_kit_example_tests_the_welcome_bot(greeter: types.ModuleType, parley_harness: Any) -> None:
    # Given the README's test function, in the module of the README's extension
    exec(compile(example("kit-test"), "README.md:kit-test", "exec"), greeter.__dict__)
    # When it runs with the plugin's fixture, it passes
    greeter.test_greeter_welcomes_a_joiner(parley_harness)
