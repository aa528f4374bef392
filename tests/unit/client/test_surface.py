"""The client covers the HTTP API as documented, and the blocking and async clients offer the same calls."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from parley_client import AsyncClient, Client
from parley_client.models import Ticket
from parley_client.routes import OPERATIONS, ai_participant

OPENAPI = json.loads((Path(__file__).resolve().parents[3] / "docs" / "openapi.json").read_text())


def test_every_documented_operation_has_a_client_method() -> None:
    documented = {op["operationId"] for path in OPENAPI["paths"].values() for op in path.values()}
    assert set(OPERATIONS) == documented
    for method in OPERATIONS.values():
        assert callable(getattr(Client, method))
        assert callable(getattr(AsyncClient, method))


def public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_async_client_mirrors_the_blocking_one() -> None:
    blocking, asynchronous = public(Client), public(AsyncClient)
    assert set(asynchronous) == set(blocking) | {"live"}
    for name, signature in blocking.items():
        assert list(asynchronous[name].parameters) == list(signature.parameters), name


def test_the_ticket_model_matches_the_servers() -> None:
    documented = OPENAPI["components"]["schemas"]["TicketOut"]
    ours = Ticket.model_json_schema()
    assert ours["properties"] == documented["properties"]
    assert ours["required"] == documented["required"]


@pytest.mark.parametrize(
    ("name", "expected"), [("Echo", "echo"), ("Deep Thought!", "deep-thought"), ("!!", "ai")]
)
def test_an_ai_participant_named_only_gets_an_id(name: str, expected: str) -> None:
    participant = ai_participant(name)
    assert (participant.id, participant.name) == (expected, name)
