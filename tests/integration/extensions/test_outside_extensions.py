"""Extensions from outside the package (``PARLEY_EXTENSIONS``): deployed like shipped ones, reloaded
when their code changes, with the stack's state kept."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local.extensions import ENV, ExtensionLoadError, Reloader, Source, configured, load_all, loaded
from infra.local.provision import Provisioned
from parley import topology
from tests.support.api import Api, User
from tests.support.bus import Bus

MODULE = """
from typing import Any

from parley.catalog import Envelope
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from parley.root import extension_runtime
from replies import reply  # a sibling module: the folder is importable

extension: Extension[Any] = Extension(
    Manifest(
        id="hello",
        version="1.0.0",
        name="Hello",
        description="Says hello.",
        events=({events}),
        capabilities=frozenset({{"messages:write"}}),
    )
)


@extension.on("UserJoined")
def greet(event: Envelope[Any], ctx: Context[Any]) -> None:
    ctx.post_message(reply(event.data.participant.name))


lambda_handler = extension.handler(runtime=extension_runtime)
"""


def write(folder: Path, *, greeting: str, events: str = '"UserJoined",') -> None:
    folder.mkdir(exist_ok=True)
    (folder / "handler.py").write_text(MODULE.format(events=events))
    (folder / "replies.py").write_text(f"def reply(name: str) -> str:\n    return f'{greeting} {{name}}'\n")
    bump(folder)


def bump(folder: Path) -> None:
    """A later mtime on every file (a filesystem's clock may be coarser than the test is fast)."""
    for path in folder.glob("*.py"):
        later = path.stat().st_mtime + 2
        os.utime(path, (later, later))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An author's extension in a folder of their own, named in PARLEY_EXTENSIONS."""
    folder = tmp_path / "hello"
    write(folder, greeting="Hi")
    monkeypatch.setenv(ENV, str(folder))
    return folder


@pytest.fixture
def aws(folder: Path, aws: Provisioned) -> Provisioned:
    """The suite's provisioning, with the author's extension configured first."""
    return aws


def joined(api: Api, bus: Bus, user: User, chat_id: str) -> list[str]:
    api.post(f"/chats/{chat_id}/members", user)
    bus.pump()
    return [m["text"] for m in api.get(f"/chats/{chat_id}/messages", user).json["items"]]


def test_an_outside_extension_runs_like_a_shipped_one_and_reloads_keeping_state(
    folder: Path, aws: Provisioned, api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given the outside extension, provisioned by the suite's own fixture, installed on a chat
    assert "ext_hello" in aws.queue_urls
    assert "hello" in {e["id"] for e in api.get("/extensions", alice).json["items"]}
    chat_id = api.create_chat(alice)["chat_id"]
    api.put(f"/chats/{chat_id}/extensions/hello", alice, body={"enabled": True})
    # When Bob joins, its own queue delivers the event to it, as the dispatcher does a shipped one's
    assert joined(api, bus, bob, chat_id) == ["Hi Bob"]

    # When its code changes (a helper module and the manifest's events), and the watcher looks
    reloader = Reloader(load_all(configured()), aws, report=lambda _: None)
    write(folder, greeting="Welcome", events='"UserJoined", "UserLeft"')
    assert reloader.check() == ["hello"]
    assert reloader.check() == []  # nothing changed since

    # Then the next delivery runs the new code, the chat and its messages are still there,
    # and the rule's pattern was rebuilt from the new manifest
    assert joined(api, bus, carol, chat_id) == ["Hi Bob", "Welcome Carol"]
    rule = boto3.client("events").describe_rule(Name="parley-ext_hello", EventBusName="parley")
    assert "UserLeft" in json.loads(rule["EventPattern"])["detail-type"]
    assert "UserLeft" in topology.route("ext_hello").event_types


def test_a_broken_edit_keeps_the_previous_code_running(
    folder: Path, aws: Provisioned, api: Api, bus: Bus, alice: User, bob: User
) -> None:
    reports: list[str] = []
    reloader = Reloader(load_all(configured()), aws, report=reports.append)
    chat_id = api.create_chat(alice)["chat_id"]
    api.put(f"/chats/{chat_id}/extensions/hello", alice, body={"enabled": True})

    # When the author saves a file that does not import
    (folder / "replies.py").write_text("def reply(name: str) -> str\n")
    bump(folder)

    # Then nothing is reloaded, the failure is reported with its reason, and the old code runs
    assert reloader.check() == []
    assert "SyntaxError" in reports[0]
    assert joined(api, bus, bob, chat_id) == ["Hi Bob"]


@pytest.mark.parametrize("how", ["folder", "file", "module", "config"])
def test_every_way_of_naming_an_extension_finds_it(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pkg_hello"
    write(package, greeting="Hi")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(package))  # `from replies import reply` in the module form
    named = {
        "folder": "pkg_hello",
        "file": "pkg_hello/handler.py",
        "module": "pkg_hello.handler",
        "config": "",
    }[how]
    environ: dict[str, Any] = {ENV: named}
    if how == "config":
        (tmp_path / "parley.local.toml").write_text('extensions = ["pkg_hello/handler.py"]\n')
    with loaded(configured(environ, cwd=tmp_path)) as extensions:
        assert [local.extension.id for local in extensions] == ["hello"]
        assert "ext_hello" in {r.name for r in topology.all_routes()}
    assert "ext_hello" not in {r.name for r in topology.all_routes()}


def test_a_name_that_is_nothing_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ExtensionLoadError, match="neither"):
        Source.resolve("no/such/place", tmp_path)
    with pytest.raises(ExtensionLoadError, match="no such file"):
        configured({"PARLEY_EXTENSIONS_FILE": str(tmp_path / "missing.toml")}, cwd=tmp_path)


def test_an_outside_extension_cannot_take_a_shipped_id(tmp_path: Path) -> None:
    folder = tmp_path / "fake"
    write(folder, greeting="Hi")
    (folder / "handler.py").write_text(
        (folder / "handler.py").read_text().replace('id="hello"', 'id="welcome"')
    )
    with pytest.raises(ValueError, match="taken"), loaded([(str(folder), tmp_path)]):
        pass
