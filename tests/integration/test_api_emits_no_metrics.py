"""The api's log group is in CloudWatch Logs' Infrequent Access class (infra/specs.py, half the
ingestion price), which extracts no metrics from embedded-metric lines: so the api must emit none.

Its ordinary flows run through the real handler (Powertools' ``log_metrics`` flushes at the end of
each invocation); no line of the output may be an EMF blob.
"""

from __future__ import annotations

import json

import pytest

from infra.specs import FUNCTIONS
from tests.support.api import Api, User


def _emf_lines(output: str) -> list[str]:
    found = []
    for line in output.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "_aws" in parsed:
            found.append(line)
    return found


def test_the_check_finds_an_emf_line_so_the_test_below_can_fail() -> None:
    # Given one embedded-metric blob among other lines, Then it is found
    blob = json.dumps({"_aws": {"CloudWatchMetrics": []}, "Posts": 1})
    assert _emf_lines(f"plain\n{json.dumps({'level': 'INFO'})}\n{blob}\n") == [blob]


def test_the_api_is_the_function_whose_logs_are_infrequent_access() -> None:
    assert {s.name for s in FUNCTIONS if s.log_class == "INFREQUENT_ACCESS"} == {"api"}


def test_the_apis_ordinary_flows_emit_no_embedded_metrics(
    api: Api, alice: User, bob: User, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a chat, a member joining, posts (one with a client id, as the web client sends), reads
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    assert api.send(alice, chat_id, "hello", client_message_id="c-1").status == 201
    assert api.send(bob, chat_id, "hi").status == 201
    assert api.get(f"/chats/{chat_id}/messages", bob).status == 200
    assert api.get(f"/chats/{chat_id}/events", alice).status == 200
    assert api.get("/chats", alice).status == 200
    assert api.get("/extensions", alice).status == 200
    assert api.post(f"/chats/{chat_id}/read", bob, body={"sequence": 1}).status in (200, 204)

    # Then none of those invocations printed an embedded-metric line
    assert _emf_lines(capsys.readouterr().out) == []
