"""Extensions see only the chats that installed them, and only what their install allows (issue 14,
part 4): each reads its own context row, which the core writes with the chat; no core table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.connection.base import Connection

from parley.adapters.contexts import backfill, load_context
from parley.adapters.tables import ExtensionRecord
from parley.extensions.builtin import extension
from parley.settings import settings
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import bind_shipped, deliver

SECRET = "whsec-only-for-the-webhook-0123456789"
HOOK = "https://hooks.example.com/parley"


def _install(
    api: Api, user: User, chat_id: str, extension_id: str, *, enabled: bool = True, **config: Any
) -> None:
    path = f"/chats/{chat_id}/extensions/{extension_id}"
    response = api.put(path, user, body={"enabled": enabled, "config": config})
    assert response.status in (200, 201), response.text


def _rows_of(extension_id: str) -> list[ExtensionRecord]:
    return [r for r in ExtensionRecord.scan() if r.pk.startswith(f"{extension_id}#")]


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every DynamoDB call PynamoDB makes (the adapters' only way to DynamoDB), as it is sent."""
    calls: list[tuple[str, dict[str, Any]]] = []
    real = Connection._make_api_call

    def recording(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        calls.append((operation_name, operation_kwargs))
        return real(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", recording)
    return calls


def _partition_keys(kwargs: dict[str, Any]) -> list[str]:
    if "Key" in kwargs or "Item" in kwargs:
        return [(kwargs.get("Key") or kwargs["Item"])["pk"]["S"]]
    values = kwargs.get("ExpressionAttributeValues") or {}
    return [v["S"] for v in values.values() if "S" in v]


def _single_item_calls(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Each call on its own, a transaction's items (the SDK commits a delivery's writes in one) too."""
    single: list[tuple[str, dict[str, Any]]] = []
    for operation, kwargs in calls:
        if operation == "TransactWriteItems":
            single += [(kind, body) for item in kwargs["TransactItems"] for kind, body in item.items()]
        else:
            single.append((operation, kwargs))
    return single


def test_an_extension_reads_its_own_install_never_another_extensions_secret(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat with the webhook (holding a secret) and sentiment installed, and Bob a member
    chat_id = api.create_chat(alice)["chat_id"]
    _install(api, alice, chat_id, "webhook", url=HOOK, secret=SECRET, events=["UserJoined"])
    _install(api, alice, chat_id, "sentiment")
    api.post(f"/chats/{chat_id}/members", bob)

    # Then the webhook's context holds its own secret
    hook = load_context("webhook", chat_id)
    assert hook is not None
    assert hook.install is not None
    assert hook.install.config["secret"] == SECRET
    # and nothing sentiment may read holds it: its row has its own install and the roster, and the
    # webhook only as a peer (installed and on, no config)
    sentiment = load_context("sentiment", chat_id)
    assert sentiment is not None
    assert sentiment.install is not None
    assert sentiment.install.extension_id == "sentiment"
    assert [p.id for p in sentiment.participants] == [alice.user_id, bob.user_id]
    assert set(sentiment.peers) == {"webhook", "analytics"}
    assert all(SECRET not in (r.data or "") for r in _rows_of("sentiment"))
    assert "config" not in sentiment.peers["webhook"].model_dump()


def test_an_extension_not_installed_on_a_chat_gets_nothing_of_it(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat where welcome was never installed
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()

    # Then welcome has no row of it, so its handler never runs there
    assert load_context("welcome", chat_id) is None
    assert [r for r in _rows_of("welcome") if r.pk == f"welcome#{chat_id}"] == []
    bind_shipped()
    ran = deliver(extension("welcome"), bus.emitted(), **{"detail-type": "UserJoined"})
    assert ran == [False, False]  # Alice's join (she created it) and Bob's


def test_a_delivery_touches_only_the_extensions_own_rows(
    api: Api, bus: Bus, alice: User, dynamodb_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    # Given a chat with sentiment enabled, and Alice's post on the bus
    chat_id = api.create_chat(alice)["chat_id"]
    _install(api, alice, chat_id, "sentiment")
    api.send(alice, chat_id, "This is great, thanks!")
    stored = [e for e in bus.emitted() if e["detail-type"] == "MessageStored"]
    bind_shipped()
    dynamodb_calls.clear()

    # When sentiment handles it
    assert deliver(extension("sentiment"), stored) == [True]

    # Then every DynamoDB call it made was on the extensions table, under its own partition keys
    # (what the role's dynamodb:LeadingKeys condition allows in AWS), its context row read among them
    assert dynamodb_calls
    for operation, kwargs in _single_item_calls(dynamodb_calls):
        assert kwargs["TableName"] == settings().extensions_table, operation
        assert all(key.startswith("sentiment#") for key in _partition_keys(kwargs)), (operation, kwargs)
    assert any(op == "GetItem" and kw["Key"]["sk"]["S"] == "context" for op, kw in dynamodb_calls)


def test_the_context_follows_the_roster_the_install_and_its_removal(api: Api, alice: User, bob: User) -> None:
    # Given a chat with sentiment installed
    chat_id = api.create_chat(alice)["chat_id"]
    _install(api, alice, chat_id, "sentiment")

    # When Bob joins, then a moderator disables sentiment
    api.post(f"/chats/{chat_id}/members", bob)
    joined = load_context("sentiment", chat_id)
    _install(api, alice, chat_id, "sentiment", enabled=False)
    disabled = load_context("sentiment", chat_id)
    # and then uninstalls it
    assert api.delete(f"/chats/{chat_id}/extensions/sentiment", alice).status == 204
    removed = load_context("sentiment", chat_id)

    # Then the row saw Bob join while it was on, and no roster once off
    assert joined is not None
    assert [p.id for p in joined.participants] == [alice.user_id, bob.user_id]
    assert disabled is not None
    assert disabled.install is not None
    assert not disabled.install.enabled
    assert disabled.participants == ()
    # and once uninstalled it keeps the head only, and expires
    assert removed is not None
    assert removed.install is None
    assert removed.peers == {}
    (row,) = [r for r in _rows_of("sentiment") if r.sk == "context"]
    assert row.expires_at is not None
    assert row.expires_at > datetime.now(UTC)


def test_the_backfill_writes_missing_rows_and_keeps_the_cores(api: Api, alice: User) -> None:
    # Given a chat whose extensions' context rows are missing (a chat from before them)
    chat_id = api.create_chat(alice)["chat_id"]
    _install(api, alice, chat_id, "sentiment")
    written = load_context("analytics", chat_id)
    ExtensionRecord(f"sentiment#{chat_id}", "context").delete()

    # When the backfill runs, twice
    first, second = backfill(datetime.now(UTC)), backfill(datetime.now(UTC))

    # Then it wrote the missing row once, and left the one the core wrote alone
    assert (first, second) == (1, 0)
    sentiment = load_context("sentiment", chat_id)
    assert sentiment is not None
    assert sentiment.install is not None
    assert load_context("analytics", chat_id) == written
