"""Each `parley` command against the local stack, run as a user would: the installed console script,
its own config file, its exit codes (0 done, 1 usage, 2 refused by the server, 3 unreachable)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.support.cli import PARLEY, User


@pytest.fixture
def ada(stack: str, tmp_path: Path) -> User:
    user = User(stack, tmp_path / "ada.json")
    assert "signed in" in user.ok("login", f"ada-{uuid.uuid4().hex[:8]}", "--name", "Ada")
    return user


@pytest.fixture
def bob(stack: str, tmp_path: Path) -> User:
    user = User(stack, tmp_path / "bob.json")
    user.ok("login", f"bob-{uuid.uuid4().hex[:8]}", "--name", "Bob")
    return user


def test_the_console_script_is_installed() -> None:
    assert PARLEY.exists(), "make install puts `parley` into .venv/bin"


def test_a_chat_from_creation_to_analytics(ada: User, bob: User) -> None:
    chat = ada.ok("chat", "create", "CLI chat", "--mode", "round_robin", "--ai", "Echo").strip()
    assert chat in ada.ok("chats")
    assert "joined" in bob.ok("join", chat)
    out_of_turn = bob("send", chat, "me first")  # round robin: the floor is Ada's
    assert out_of_turn.code == 2
    assert "409 not_your_turn" in out_of_turn.err
    assert ada.ok("send", chat, "hello from ada").startswith("#1 ")

    history = [json.loads(line) for line in bob.ok("history", chat, "--json").splitlines()]
    assert history[0]["text"] == "hello from ada"
    assert "Ada: hello from ada" in bob.ok("history", chat)

    logged = [json.loads(line) for line in ada.ok("events", chat).splitlines()]
    assert logged[0]["metadata"]["event_type"] == "ChatCreated"
    assert [e["metadata"]["sequence"] for e in logged] == list(range(1, len(logged) + 1))

    assert json.loads(ada.ok("analytics", chat))["chat_id"] == chat
    assert ada.ok("analytics", chat, "--csv").startswith("section,subject,metric,value")


def test_tail_prints_each_event_once_in_order(ada: User) -> None:
    chat = ada.ok("chat", "create", "tail").strip()
    ada.ok("send", chat, "one")
    ada.ok("send", chat, "two")
    frames = [json.loads(line) for line in ada.ok("tail", chat, "--after", "0", "--count", "3").splitlines()]
    sequences = [f["sequence"] for f in frames]
    assert sequences == sorted(set(sequences))
    assert [f["data"]["message"]["text"] for f in frames if f["type"] == "MessageStored"] == ["one", "two"]
    pretty = ada.ok("tail", chat, "--after", "0", "--count", "3", "--pretty").splitlines()
    assert any(line.endswith(": two") and "MessageStored" in line for line in pretty)


def test_extensions_from_the_command_line(ada: User) -> None:
    chat = ada.ok("chat", "create", "ext").strip()
    assert "welcome" in ada.ok("ext", "list").split()
    assert "welcome enabled" in ada.ok("ext", "enable", chat, "welcome")
    assert '"template": "Hi {name}"' in ada.ok("ext", "config", chat, "welcome", "template=Hi {name}")
    assert json.loads(ada.ok("ext", "config", chat, "welcome")) == {"template": "Hi {name}"}
    assert "welcome disabled" in ada.ok("ext", "disable", chat, "welcome")
    assert "disabled" in ada.ok("ext", "list", chat)


def test_redrive_answers_with_what_it_moved(ada: User) -> None:
    assert "moved" in json.loads(ada.ok("redrive"))


def test_a_refusal_exits_2_with_the_servers_error(ada: User, bob: User) -> None:
    chat = ada.ok("chat", "create", "private").strip()
    refused = bob("send", chat, "let me in")
    assert refused.code == 2
    assert "404 chat_not_found" in refused.err
    invalid = ada("ext", "config", chat, "welcome", "colour=red")
    assert invalid.code == 2
    assert "colour" in invalid.err


def test_no_server_exits_3_and_bad_usage_exits_1(tmp_path: Path) -> None:
    nobody = User("http://127.0.0.1:9", tmp_path / "none.json")
    unreachable = nobody("login", "ada")
    assert unreachable.code == 3
    assert "cannot reach" in unreachable.err
    assert nobody("chat", "create").code == 1
    assert nobody("chats").code == 1  # nobody signed in: says to run `parley login`
    assert nobody("--help").code == 0


def test_send_to_whispers(ada: User, stack: str, tmp_path: Path) -> None:
    # Given Ada's chat with Cy
    chat = ada.ok("chat", "create", "whisper").strip()
    cy_id = f"cy-{uuid.uuid4().hex[:8]}"
    cy = User(stack, tmp_path / "cy.json")
    cy.ok("login", cy_id, "--name", "Cy")
    cy.ok("join", chat)
    # When Ada whispers to Cy, then to someone not in the chat
    ada.ok("send", chat, "just for you", "--to", cy_id)
    refused = ada("send", chat, "psst", "--to", "nobody-here")
    # Then Cy reads the whisper, naming its addressee; the second is refused naming `to`
    (message,) = [json.loads(line) for line in cy.ok("history", chat, "--json").splitlines()]
    assert (message["text"], message["to"]) == ("just for you", [cy_id])
    assert refused.code == 2
    assert "422 invalid_request" in refused.err
