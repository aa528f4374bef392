"""The author's kit: the in-memory harness and pytest fixture, and handlers typed by event."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from mypy import api as mypy
from pydantic import BaseModel

from parley.catalog import Envelope, MessageStored, UserJoined
from parley.errors import PublishError
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Emits, Extension
from parley_kit.pytest_plugin import HarnessFactory

ROOT = Path(__file__).resolve().parents[2]


class Done(BaseModel):
    answered: int


DONE = Emits("standup.done", Done)


def standup() -> Extension[Any]:
    extension: Extension[Any] = Extension(
        Manifest(
            id="standup",
            version="1.0.0",
            name="Standup",
            description="Collects answers.",
            events=("MessageStored", "UserJoined"),
            capabilities=frozenset({"messages:write", "events:emit"}),
            emits=("standup.done",),
        )
    )

    @extension.on("UserJoined")
    def welcome(event: Envelope[UserJoined], ctx: Context[Any]) -> None:
        ctx.post_message(f"{event.data.participant.name}, what did you do yesterday?")

    @extension.on("MessageStored")
    def answer(event: Envelope[MessageStored], ctx: Context[Any]) -> None:
        answers = ctx.store.update("answers", lambda a: {**(a or {}), event.data.message.sender_id: 1})
        if len(answers) == 2:
            ctx.post_message("Everyone has answered.")
            ctx.emit(DONE, Done(answered=len(answers)))

    return extension


def test_the_harness_runs_handlers_on_in_memory_fakes(parley_harness: HarnessFactory) -> None:
    harness = parley_harness(standup())
    assert harness.join("user-bob", "Bob")
    harness.post("user-alice", "shipped it")
    harness.post("user-bob", "reviewed it")
    assert harness.posted() == ["Bob, what did you do yesterday?", "Everyone has answered."]
    assert harness.emitted() == [("standup.done", {"answered": 2})]
    assert harness.store.get("answers") == {"user-alice": 1, "user-bob": 1}


def test_the_harness_shows_a_failed_publish_republished_on_retry(parley_harness: HarnessFactory) -> None:
    harness = parley_harness(standup())
    harness.post("user-alice", "one")
    harness.bus.fail_next = PublishError("bus down")
    with pytest.raises(PublishError):
        harness.post("user-bob", "two")
    assert harness.posted() == []
    assert harness.last is not None
    assert harness.deliver_envelope(harness.last) is False  # the retry: committed, so republished
    assert harness.posted() == ["Everyone has answered."]


def test_a_subscriber_reads_a_typed_payload(parley_harness: HarnessFactory) -> None:
    got: list[int] = []
    sender = standup().manifest
    listener: Extension[Any] = Extension(
        Manifest(
            id="listener",
            version="1.0.0",
            name="Listener",
            description="Hears standups.",
            extension_events=("standup.done",),
        )
    )

    @listener.on("standup.done")
    def heard(event: Envelope[Any], ctx: Context[Any]) -> None:
        got.append(DONE.payload_of(event).answered)

    harness = parley_harness(listener, others=(sender,))
    assert harness.receive(sender, "standup.done", {"answered": 3})
    assert got == [3]


SAMPLE = """
from typing import Any

from pydantic import BaseModel

from parley.catalog import Envelope, MessageStored, UserJoined
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Emits, Extension


class Done(BaseModel):
    answered: int


class Other(BaseModel):
    x: str


DONE = Emits("standup.done", Done)
extension: Extension[Any] = Extension(
    Manifest(id="sample", version="1", name="S", description="d", events=("MessageStored", "UserJoined"))
)


@extension.on("MessageStored")
def right(event: Envelope[MessageStored], ctx: Context[Any]) -> None:
    text: str = event.data.message.text
    ctx.emit(DONE, Done(answered=len(text)))


@extension.on("UserJoined")
def wrong(event: Envelope[MessageStored], ctx: Context[Any]) -> None:
    ctx.emit(DONE, Other(x="no"))


@extension.on("UserJoined")
def typo(event: Envelope[UserJoined], ctx: Context[Any]) -> None:
    print(event.data.message)
"""


def test_a_handler_typed_for_another_event_is_a_mypy_error(tmp_path: Path) -> None:
    sample = tmp_path / "sample_extension.py"
    sample.write_text(textwrap.dedent(SAMPLE))
    out, _, status = mypy.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"), str(sample)]
    )
    errors = {int(line.split(":")[1]): line for line in out.splitlines() if ": error: " in line}
    source = sample.read_text().splitlines()

    def line_of(text: str, after: int = 0) -> int:
        return next(n for n, line in enumerate(source, 1) if n > after and text in line)

    # Then mypy flags exactly: the handler typed for MessageStored under on("UserJoined"), the payload
    # of another model, and a field UserJoined data does not have; the right handler passes
    mismatch = line_of('@extension.on("UserJoined")')
    assert status == 1, out
    assert sorted(errors) == [mismatch, line_of("Other(x="), line_of("event.data.message)")], out
    assert "Envelope[MessageStored]" in errors[mismatch]
    assert "Envelope[UserJoined]" in errors[mismatch]


def test_the_sdk_distribution_pins_what_the_layer_ships() -> None:
    # Given the layer's pinned runtime requirements and the distribution's dependencies
    import tomllib

    layer = {
        line.strip()
        for line in (ROOT / "layers" / "parley" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "sdk" / "python" / "pyproject.toml").read_text())["project"]
    # Then an extension's repository tests against exactly the versions its Lambda will run on
    assert layer <= set(project["dependencies"])
    assert project["entry-points"]["pytest11"] == {"parley": "parley_kit.pytest_plugin"}


def test_the_scaffold_refuses_a_bad_id_and_a_folder_with_files(tmp_path: Path) -> None:
    from parley_kit.scaffold import ScaffoldError, scaffold

    with pytest.raises(ScaffoldError, match="not an extension id"):
        scaffold("Stand-Up", tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="not empty"):
        scaffold("standup", tmp_path / "b")
    written = {p.relative_to(tmp_path / "c").as_posix() for p in scaffold("standup", tmp_path / "c")}
    assert {"standup/handler.py", "tests/test_standup.py", "cdk/app.py", "pyproject.toml"} <= written
