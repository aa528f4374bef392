"""The command line without a server: every command's help, usage errors, the config file, plugins."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from parley.catalog import Actor, EphemeralMessage, new_event
from parley.realtime.frames import frame_of
from parley_client import cli
from parley_client.cli import EXIT_UNREACHABLE, EXIT_USAGE, build_parser, main
from parley_client.cli import registry as registry_module
from parley_client.cli.commands import pretty
from parley_client.cli.context import Config, Context
from parley_client.cli.registry import REGISTRY, Registry
from parley_client.models import LiveEvent

ISSUE_COMMANDS = {
    "login",
    "chats",
    "chat create",
    "join",
    "send",
    "history",
    "tail",
    "events",
    "analytics",
    "ext list",
    "ext enable",
    "ext disable",
    "ext config",
    "redrive",
}


@pytest.fixture(autouse=True)
def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "parley" / "config.json"
    monkeypatch.setenv("PARLEY_CONFIG", str(path))
    for name in ("PARLEY_URL", "PARLEY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_the_issues_commands_are_all_registered() -> None:
    assert set(REGISTRY.commands) >= ISSUE_COMMANDS


@pytest.mark.parametrize("name", sorted(REGISTRY.commands))
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*name.split(), "--help"]) == 0
    assert REGISTRY.commands[name].help in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["send"],
        ["chat"],
        ["chat", "create", "t", "--mode", "anarchy"],
        ["tail", "c", "--count", "x"],
    ],
)
def test_usage_errors_exit_1(argv: list[str]) -> None:
    assert main(argv) == EXIT_USAGE


def test_a_command_without_a_login_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://127.0.0.1:1", "chats"]) == EXIT_USAGE
    assert "parley login" in capsys.readouterr().err


def test_no_server_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://127.0.0.1:1", "login", "ada"]) == EXIT_UNREACHABLE
    assert "cannot reach" in capsys.readouterr().err


def test_the_config_file_is_private_and_keyed_by_stack(tmp_path: Path) -> None:
    path = tmp_path / "parley" / "config.json"
    config = Config.load()
    config.remember("http://a", {"token": "secret"})
    config.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": "http://a", "tokens": {"http://a": {"token": "secret"}}}
    assert Config.load().signed_in("http://a") == {"token": "secret"}
    assert Config.load().signed_in("b") is None


def test_another_package_adds_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry()
    registry.group("ops", "operator tools")

    @registry.command("ops rebuild", "rebuild a chat's state from its events")
    def rebuild(ctx: object, args: argparse.Namespace) -> int:
        return 0

    parser = build_parser(registry)
    assert parser.parse_args(["ops", "rebuild"]).run is rebuild
    with pytest.raises(ValueError, match="twice"):
        registry.command("ops rebuild", "again")(rebuild)
    assert cli.command == REGISTRY.command


def test_plugins_load_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    class Entry:
        def load(self) -> None:
            loaded.append("ops")

    def entry_points(*, group: str) -> list[Entry]:
        return [Entry()] if group == "parley.commands" else []

    monkeypatch.setattr(registry_module, "entry_points", entry_points)
    registry_module.load_plugins()
    assert loaded == ["ops"]


def test_parley_token_overrides_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_TOKEN", "from-env")
    assert Context.of("http://nowhere").token() == "from-env"


def test_login_with_a_given_token_keeps_it_for_that_stack() -> None:
    assert main(["--url", "https://chat.example.com", "login", "ada", "--token", "eyJ.x.y"]) == 0
    context = Context.of(None)
    assert context.url == "https://chat.example.com"
    assert context.token() == "eyJ.x.y"


def test_tail_pretty_marks_an_ephemeral_message_as_for_you_alone() -> None:
    whisper = EphemeralMessage(
        message_id="req-1",
        participant_id="user-bob",
        sender_id="ext:welcome",
        sender_name="Welcome bot",
        sender_kind="extension",
        extension_id="welcome",
        text="Welcome Bob!",
    )
    actor = Actor(id="welcome", kind="extension", name="Welcome bot")
    event = LiveEvent.of_frame(frame_of(new_event(whisper, chat_id="chat-1", actor=actor)))
    assert event is not None
    assert pretty(event) == "~ chat-1 EphemeralMessage Welcome bot: Welcome Bob! (only you can see this)"
