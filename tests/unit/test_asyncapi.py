"""docs/asyncapi.yaml is a valid AsyncAPI document, and each frame the server sends fits exactly one message.

The document is checked against the official AsyncAPI 2.6.0 JSON Schema, shipped in the pinned npm
package @asyncapi/specs (tests/asyncapi/package.json; `make test` installs it with npm ci).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from parley.realtime.frames import Frame, FrameType, error_frame
from tests.support.frames import asyncapi_document, conforms, messages_matching

SPECS = Path(__file__).resolve().parents[1] / "asyncapi"
SPEC_PACKAGE = SPECS / "node_modules" / "@asyncapi" / "specs"


def asyncapi_schema(version: str) -> dict[str, Any]:
    path = SPEC_PACKAGE / "schemas" / f"{version}.json"
    assert path.exists(), f"{path} is missing: run `make test` (it runs npm ci in {SPECS})"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def problems(document: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(asyncapi_schema(document["asyncapi"]))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_installed_spec_package_is_the_pinned_one() -> None:
    pinned = json.loads((SPECS / "package.json").read_text())["devDependencies"]["@asyncapi/specs"]
    installed = json.loads((SPEC_PACKAGE / "package.json").read_text())["version"]
    assert installed == pinned, "the installed @asyncapi/specs is stale: run npm ci in tests/asyncapi"


def test_the_document_is_valid_asyncapi() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "2.6.0"
    assert problems(document) == []


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        (lambda d: d.pop("info"), ": 'info' is a required property"),
        (lambda d: d["channels"]["/ws"].update(publish="not an operation"), "channels//ws/publish"),
        (lambda d: d["components"]["messages"]["pong"].update(contentType=7), "components/messages/pong"),
    ],
)
def test_the_validator_catches_a_broken_document(break_it: Any, where: str) -> None:
    # Given the document, broken in one place
    document = copy.deepcopy(asyncapi_document())
    break_it(document)

    # Then the official schema rejects it
    found = problems(document)
    assert found, where
    assert any(p.startswith(where) for p in found), found


def test_every_frame_type_has_one_message() -> None:
    messages = asyncapi_document()["components"]["messages"]
    assert set(messages) == set(get_args(FrameType))


@pytest.mark.parametrize(
    "frame",
    [
        Frame(type="pong"),
        Frame(
            type="Subscribed",
            chat_id="c-1",
            sequence=3,
            data={"replayed": 0, "last_message_sequence": 1, "replayed_through": 2, "complete": False},
        ),
        Frame(type="Unsubscribed", chat_id="c-1"),
        Frame(type="Ack", chat_id="c-1", data={"action": "typing", "throttled": False}),
        error_frame("invalid_action", "the frame is not a valid action", fields=[]),
        error_frame("chat_not_found", "no such chat", action="subscribe", chat_id="c-1"),
    ],
    ids=lambda f: f.type,
)
def test_a_reply_frame_fits_exactly_one_message(frame: Frame) -> None:
    sent = json.loads(frame.encode())
    assert conforms(sent) is sent
    assert messages_matching(sent) == [frame.type]


def test_a_frame_outside_the_document_is_caught() -> None:
    with pytest.raises(AssertionError, match="no message"):
        conforms({"type": "Surprise"})
    with pytest.raises(AssertionError, match="does not match"):
        conforms({"type": "MessageStored", "data": {"message": "not an object"}})
