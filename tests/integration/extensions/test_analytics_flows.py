"""The analytics extension on moto: a real conversation through the bus, its JSON and CSV exports,
who may read them, the operators' summary, disabling it, duplicates and retention."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parley import root
from parley.adapters.tables import ChatRecord, ExtensionRecord
from parley.extensions.builtin import _analytics_model as model
from parley.extensions.builtin.analytics import extension as analytics
from parley.patterns import matches
from parley.topology import route
from tests.support.api import Api, ApiResponse, User, assert_error
from tests.support.bus import Bus

ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}


@dataclass(frozen=True)
class Operator(User):
    """A user in the Cognito group `operators`: API Gateway hands the array claim over as `[a b]`."""

    groups: str = "[operators]"

    @property
    def claims(self) -> dict[str, str]:
        return {**super().claims, "cognito:groups": self.groups}


@pytest.fixture(autouse=True)
def _fast_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    monkeypatch.setenv("PARLEY_AI_CANCEL_CHECK_SECONDS", "0")
    root.reset()


def parse_csv(response: ApiResponse) -> list[dict[str, str]]:
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("text/csv"), response.headers
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.endswith("\r\n")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def lookup(document: dict[str, Any], section: str, subject: str, metric: str) -> Any:
    """The JSON value a CSV row names, found independently of how the CSV was written."""
    path = section.split(".")
    node: Any = document
    if path[0] not in ("chat", "report"):
        for part in path:
            node = node[part]
    if subject:
        if isinstance(node, dict):
            node = node[subject]
        else:
            node = next(item for item in node if str(next(iter(item.values()))) == subject)
    return node[metric]


def same(csv_value: str, json_value: Any) -> bool:
    if json_value is None:
        return csv_value == ""
    if isinstance(json_value, bool):
        return csv_value == str(json_value).lower()
    if isinstance(json_value, int | float):
        return float(csv_value) == float(json_value)
    return csv_value == str(json_value)


def leaves(node: Any) -> int:
    """How many scalar values a JSON document holds (each list item's id is its subject, not a row)."""
    if isinstance(node, dict):
        return sum(leaves(v) for v in node.values())
    if isinstance(node, list):
        return sum(leaves(item) - 1 for item in node)
    return 1


def assert_csv_matches_json(rows: list[dict[str, str]], document: dict[str, Any]) -> None:
    """Every row is a value of the JSON (but the time each was generated: two requests), and back."""
    assert rows, "no rows"
    for row in rows:
        assert set(row) == {"section", "subject", "metric", "value"}, row
        value = lookup(document, row["section"], row["subject"], row["metric"])
        assert row["metric"] == "generated_at" or same(row["value"], value), (row, value)
    assert len(rows) == leaves(document)  # every value is in the CSV, once


def conversation(api: Api, bus: Bus, alice: User, bob: User) -> str:
    """Alice's free chat with Bob and the Oracle: three people's messages and one AI reply."""
    chat_id = api.create_chat(alice, title="Riddles", ai_participants=[ORACLE])["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    assert api.send(alice, chat_id, "Hello Bob").status == 201
    assert api.send(bob, chat_id, "Hi Alice!").status == 201
    assert api.send(alice, chat_id, "@Oracle what has keys but opens no locks?").status == 201
    bus.pump()
    return str(chat_id)


def analytics_of(api: Api, user: User, chat_id: str) -> dict[str, Any]:
    response = api.get(f"/chats/{chat_id}/analytics", user)
    assert response.status == 200, response.text
    found: dict[str, Any] = response.json
    return found


def test_every_new_chat_comes_with_analytics_enabled(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]

    installs = api.get(f"/chats/{chat_id}/extensions", alice).json["items"]

    assert [(i["extension_id"], i["status"]) for i in installs if i["extension_id"] == "analytics"] == [
        ("analytics", "enabled")
    ]


def test_a_conversation_is_measured(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a short conversation with an AI reply, delivered through the bus
    chat_id = conversation(api, bus, alice, bob)

    # When a member asks for the chat's analytics
    report = analytics_of(api, bob, chat_id)

    # Then the numbers are those of the conversation
    texts = ["Hello Bob", "Hi Alice!", "@Oracle what has keys but opens no locks?"]
    [reply] = [
        m for m in api.get(f"/chats/{chat_id}/messages", alice).json["items"] if m["sender_id"] == "oracle"
    ]
    assert report["status"] == "enabled"
    messages = report["messages"]
    assert messages["count"] == 4
    assert messages["total_length"] == sum(map(len, texts)) + len(reply["text"])
    assert messages["by_kind"]["human"]["count"] == 3
    assert messages["by_kind"]["ai"] == {
        "count": 1,
        "total_length": len(reply["text"]),
        "mean_length": float(len(reply["text"])),
    }
    assert messages["by_kind"]["extension"]["count"] == 0
    by_sender = {s["sender_id"]: (s["name"], s["kind"], s["count"]) for s in messages["by_sender"]}
    assert by_sender == {
        alice.user_id: ("Alice", "human", 2),
        bob.user_id: ("Bob", "human", 1),
        "oracle": ("Oracle", "ai", 1),
    }
    ai = report["ai"]
    assert (ai["requests"], ai["successes"], ai["failures"], ai["pending"]) == (1, 1, 0, 0)
    assert ai["success_rate"] == 1.0
    assert ai["time_to_first_token_ms"]["p50"] is not None
    assert ai["response_time_ms"]["p95"] >= ai["time_to_first_token_ms"]["p95"]
    assert ai["output_tokens"] > 0
    engagement = report["engagement"]
    assert (engagement["active_participants"], engagement["joins"], engagement["leaves"]) == (3, 3, 0)
    assert {p["participant_id"]: p["messages"] for p in engagement["participants"]} == {
        alice.user_id: 2,
        bob.user_id: 1,
        "oracle": 1,
    }
    assert report["turns"]["count"] == 0  # a free chat has no turns
    session = report["session"]
    assert session["completed"] is False
    assert session["first_activity"] == report["period"]["start"]
    assert session["last_activity"] == report["period"]["end"]
    today = datetime.now(UTC).date().isoformat()
    assert report["daily"] == [{"date": today, "messages": 4, "ai_replies": 1, "active_participants": 3}]
    assert report["period"]["retention_days"] == 90


def test_the_csv_export_parses_and_says_what_the_json_says(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    chat_id = conversation(api, bus, alice, bob)
    api.post(f"/chats/{chat_id}/complete", alice)
    bus.pump()

    document = analytics_of(api, alice, chat_id)
    response = api.get(f"/chats/{chat_id}/analytics", alice, query={"format": "csv"})

    rows = parse_csv(response)
    assert response.text.startswith("section,subject,metric,value\r\n")
    assert_csv_matches_json(rows, document)
    by_key = {(r["section"], r["subject"], r["metric"]): r["value"] for r in rows}
    assert by_key[("messages", "", "count")] == "4"
    assert by_key[("messages.by_sender", "oracle", "name")] == "Oracle"
    assert by_key[("session", "", "completed")] == "true"
    assert by_key[("period", "", "start")] == document["period"]["start"]
    assert by_key[("chat", "", "chat_id")] == chat_id


def test_turns_are_timed_from_turn_changes_in_a_round_robin_chat(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a round-robin chat where Alice and Bob take two turns each
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    for user, text in ((alice, "one"), (bob, "two"), (alice, "three"), (bob, "four")):
        assert api.send(user, chat_id, text).status == 201, text
        bus.pump()

    # When the analytics are read
    turns = analytics_of(api, alice, chat_id)["turns"]

    # Then every turn change counted once, and each finished turn has a duration
    changes = [e for e in bus.emitted() if e["detail-type"] == "TurnChanged"]
    numbers = {
        e["detail"]["data"]["turn_number"] for e in changes if e["detail"]["metadata"]["chat_id"] == chat_id
    }
    assert turns["count"] == len(numbers) >= 4
    assert turns["by_mode"] == {"round_robin": {"count": len(numbers), "timeouts": 0}}
    assert turns["measured"] == len(numbers) - 1
    assert turns["mean_duration_ms"] is not None
    assert turns["p95_duration_ms"] >= 0


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_outsiders_get_404_and_nothing_about_the_chat(
    api: Api, bus: Bus, alice: User, bob: User, carol: User, fmt: str
) -> None:
    chat_id = conversation(api, bus, alice, bob)

    response = api.get(f"/chats/{chat_id}/analytics", carol, query={"format": fmt})

    assert_error(response, 404, "chat_not_found")
    assert "Hello" not in response.text
    assert "Riddles" not in response.text


def test_a_bad_format_is_a_422(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    assert_error(
        api.get(f"/chats/{chat_id}/analytics", alice, query={"format": "xml"}), 422, "validation_error"
    )


def test_a_moderator_may_turn_analytics_off_and_nothing_more_is_counted(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a measured chat
    chat_id = api.create_chat(alice)["chat_id"]
    api.send(alice, chat_id, "counted")
    bus.pump()

    # When its owner disables analytics (a plain member may not), and more is said
    refused = api.put(f"/chats/{chat_id}/extensions/analytics", bob, body={"enabled": False})
    disabled = api.put(f"/chats/{chat_id}/extensions/analytics", alice, body={"enabled": False})
    api.send(alice, chat_id, "not counted")
    bus.pump()

    # Then the report says it is off and counts only what came before
    assert_error(refused, 404, "chat_not_found")  # Bob is not even a member
    assert disabled.status == 200, disabled.text
    report = analytics_of(api, alice, chat_id)
    assert report["status"] == "disabled"
    assert report["messages"]["count"] == 1


def test_a_redelivery_after_a_lost_claim_changes_no_number(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a measured conversation
    chat_id = conversation(api, bus, alice, bob)
    before = analytics_of(api, alice, chat_id)
    events = [e for e in bus.emitted() if e["detail"]["metadata"]["chat_id"] == chat_id]
    kept = [e for e in events if e["detail-type"] in analytics.manifest.events]
    assert len(kept) >= 6  # no MessageStored: messages are folded from the log

    # When every event is delivered again, as if the handler had died after writing but before the
    # SDK recorded the delivery (so the claim is gone and the handler runs a second time)
    state = root.extension_runtime().state("analytics", chat_id)
    for event in reversed(kept):
        state.release(event["detail"]["metadata"]["event_id"])
        assert analytics.deliver(event) is True

    # Then no number moved, here or in the operators' summary
    after = analytics_of(api, alice, chat_id)
    assert {**after, "period": None} == {**before, "period": None}
    summary = api.get("/analytics/summary", Operator("user-olga", "Olga")).json
    assert summary["totals"]["messages"] == 4
    assert summary["totals"]["chats_created"] == 1


def test_the_operators_summary(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given two conversations, one of them completed
    first = conversation(api, bus, alice, bob)
    conversation(api, bus, bob, alice)
    api.post(f"/chats/{first}/complete", alice)
    bus.pump()
    operator = Operator("user-olga", "Olga")
    today = datetime.now(UTC).date()

    # When an operator asks for the summary of the last week, as JSON and as CSV
    query = {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}
    document = api.get("/analytics/summary", operator, query=query).json
    exported = api.get("/analytics/summary", operator, query={**query, "format": "csv"})
    rows = parse_csv(exported)

    # Then it covers the week, day by day, with today's conversations in it
    assert document["period"]["start"] == query["from"]
    assert document["period"]["days"] == 7
    assert [d["date"] for d in document["trend"]] == [
        (today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)
    ]
    totals = document["totals"]
    assert (totals["chats_created"], totals["chats_completed"], totals["completion_rate"]) == (2, 1, 0.5)
    assert (totals["messages"], totals["ai_replies"], totals["ai_successes"]) == (8, 2, 2)
    assert totals["ai_success_rate"] == 1.0
    assert totals["active_participants"] == 6
    assert document["trend"][-1]["messages"] == 8
    assert document["trend"][-1]["chats_completed"] == 1
    assert_csv_matches_json(rows, document)
    filename = f"parley-analytics-summary-{query['from']}-{query['to']}.csv"
    assert exported.headers["content-disposition"] == f'attachment; filename="{filename}"'

    # And without a range it covers the last 30 days, up to today
    period = api.get("/analytics/summary", operator).json["period"]
    assert (period["start"], period["end"], period["days"]) == (
        (today - timedelta(days=29)).isoformat(),
        today.isoformat(),
        30,
    )


@pytest.mark.parametrize(
    "groups", ["", "[members]", "[operators-lite]", "operatorsx"], ids=["none", "other", "prefix", "suffix"]
)
def test_the_summary_refuses_everyone_but_operators(api: Api, groups: str) -> None:
    response = api.get("/analytics/summary", Operator("user-mallory", "Mallory", groups=groups))
    assert_error(response, 403, "forbidden")


@pytest.mark.parametrize("claim", ["[operators]", "[admins operators]", "operators", "admins,operators"])
def test_the_groups_claim_is_read_in_the_forms_api_gateway_sends(api: Api, claim: str) -> None:
    assert api.get("/analytics/summary", Operator("user-olga", "Olga", groups=claim)).status == 200


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2025-01-01", "to": "2026-01-01"},
        {"from": "soon"},
    ],
    ids=["backwards", "too_long", "not_a_date"],
)
def test_a_bad_range_is_a_422(api: Api, query: dict[str, str]) -> None:
    response = api.get("/analytics/summary", Operator("user-olga", "Olga"), query=query)
    assert response.status == 422, response.text


def test_aggregates_expire_after_the_chats_retention(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat whose analytics keep 7 days, and a message in it
    chat_id = api.create_chat(alice)["chat_id"]
    put = api.put(
        f"/chats/{chat_id}/extensions/analytics",
        alice,
        body={"enabled": True, "config": {"retention_days": 7}},
    )
    assert put.status == 200, put.text
    api.send(alice, chat_id, "short-lived")
    bus.pump()
    counted = analytics_of(api, alice, chat_id)

    # When the report is read 8 days later
    later = datetime.now(UTC) + timedelta(days=8)
    monkeypatch.setattr(root.analytics_service(), "_clock", lambda: later)
    expired = analytics_of(api, alice, chat_id)

    # Then the export says so, and the message no longer counts
    assert counted["period"]["retention_days"] == 7
    assert counted["messages"]["count"] == 1
    assert expired["messages"]["count"] == 0
    assert expired["period"]["start"] is None
    today = datetime.now(UTC).date().isoformat()
    partition = model.rollup_partition(today, chat_id)
    rollup = list(ExtensionRecord.query(f"analytics#{partition}"))
    assert rollup
    assert all(r.expires_at is not None for r in rollup)
    # and nothing personal reaches the operators' rollup
    tallies = repr(root.extension_runtime().state("analytics", partition).tallies(""))
    assert alice.user_id not in tallies
    assert "Alice" not in tallies


def test_a_long_chats_report_caches_its_finished_blocks_and_says_the_same(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given a chat whose log has passed its first block of sequences
    chat_id = api.create_chat(alice, settings={"rate_limit_messages": 1000})["chat_id"]
    for n in range(model.BLOCK + 5):
        assert api.send(alice, chat_id, f"message {n}").status == 201
    bus.pump()

    # When its report is read twice
    first = analytics_of(api, alice, chat_id)
    cached = [r.sk for r in ExtensionRecord.query(f"analytics#{chat_id}") if r.sk.startswith("kv#fold#")]
    second = analytics_of(api, alice, chat_id)

    # Then the finished block was cached by the first read, and the second (which read the log only
    # after it) says the same
    assert cached == ["kv#fold#0"]
    assert first["messages"]["count"] == model.BLOCK + 5
    assert {**second, "period": None} == {**first, "period": None}


def test_a_post_in_a_default_chat_hands_analytics_nothing(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a default chat (analytics enabled) with Bob in it
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    before = len(bus.emitted())

    # When Alice posts
    assert api.send(alice, chat_id, "costs analytics nothing").status == 201
    bus.pump()

    # Then no event of the post matches analytics' rule (no delivery, invocation or write for it)
    posted = bus.emitted()[before:]
    assert "MessageStored" in [e["detail-type"] for e in posted]
    rule = route("ext_analytics").pattern
    assert [e["detail-type"] for e in posted if matches(rule, e)] == []
    # and the operators' summary still counts the message, folded from the chat's log
    summary = api.get("/analytics/summary", Operator("user-olga", "Olga")).json
    assert (summary["totals"]["messages"], summary["totals"]["chats_active"]) == (1, 1)


def test_a_chats_first_message_of_a_day_indexes_it_once(api: Api, bus: Bus, alice: User) -> None:
    # Given a chat
    chat_id = api.create_chat(alice)["chat_id"]
    today = datetime.now(UTC).date().isoformat()
    assert root.chat_repository().active_chats(today) == {}

    # When three messages are posted the same day
    for text in ("one", "two", "three"):
        assert api.send(alice, chat_id, text).status == 201

    # Then the chat is in the day's index once, from its log's start (its head had no day yet)
    assert root.chat_repository().active_chats(today) == {chat_id: 1}
    head = ChatRecord.get(chat_id, consistent_read=True)
    assert head.active_day == today
    assert [r.chat_id for r in ChatRecord.scan() if r.active_on] == [f"{chat_id}#day#{today}"]

    # When the chat is as one written before day items existed (no day item, no active_day on the
    # head: the deploy day) and one more message comes
    ChatRecord.get(f"{chat_id}#day#{today}", consistent_read=True).delete()
    head.update(actions=[ChatRecord.active_day.remove()])
    assert api.send(alice, chat_id, "four").status == 201

    # Then the day is folded from the log's start, so the three earlier messages still count
    assert root.chat_repository().active_chats(today) == {chat_id: 1}


def test_enabling_analytics_with_a_backfill_counts_the_past_in_the_summary_too(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given a chat whose messages were said while analytics was off
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.put(f"/chats/{chat_id}/extensions/analytics", alice, body={"enabled": False}).status == 200
    for text in ("said", "while off"):
        assert api.send(alice, chat_id, text).status == 201
    bus.pump()
    operator = Operator("user-olga", "Olga")
    assert api.get("/analytics/summary", operator).json["totals"]["messages"] == 0

    # When its owner enables analytics again (its backfill covers the chat's past)
    assert api.put(f"/chats/{chat_id}/extensions/analytics", alice, body={"enabled": True}).status == 200
    bus.pump()

    # Then the summary counts them, as the chat's report does
    assert analytics_of(api, alice, chat_id)["messages"]["count"] == 2
    assert api.get("/analytics/summary", operator).json["totals"]["messages"] == 2
    # and analytics noted the backfill's window, for the days the summary has already folded
    windows = root.extension_runtime().state("analytics", model.BACKFILL_PARTITION).tallies("")
    assert len(windows[chat_id]["tags"]["a"]) == 1
