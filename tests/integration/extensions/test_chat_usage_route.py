"""`GET /extensions/{extension_id}/usage/chats/{chat_id}` on moto: one extension's usage in one chat
on a UTC day, folded from that chat's event log; operators only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from parley.extensions.usage import USAGE_USD
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus


@dataclass(frozen=True)
class Operator(User):
    @property
    def claims(self) -> dict[str, str]:
        return {**super().claims, "cognito:groups": "[operators]"}


OLGA = Operator("user-olga", "Olga")


def usage(api: Api, extension_id: str, chat_id: str) -> dict[str, object]:
    today = datetime.now(UTC).date().isoformat()
    answer = api.get(f"/extensions/{extension_id}/usage/chats/{chat_id}", OLGA, query={"day": today})
    assert answer.status == 200, answer.text
    body: dict[str, object] = answer.json
    return body


def test_only_what_its_rule_was_handed_after_it_was_enabled_counts(api: Api, alice: User) -> None:
    # Given a chat with two posts, then sentiment enabled, then three more posts
    chat_id = api.create_chat(alice)["chat_id"]
    for text in ("one", "two"):
        assert api.send(alice, chat_id, text).status == 201
    installed = api.put(f"/chats/{chat_id}/extensions/sentiment", alice, body={"enabled": True, "config": {}})
    assert installed.status == 201, installed.text
    for text in ("three", "four", "five"):
        assert api.send(alice, chat_id, text).status == 201
    # and another chat with posts that never enabled it
    quiet_id = api.create_chat(alice)["chat_id"]
    assert api.send(alice, quiet_id, "hello").status == 201

    # When an operator asks for today's usage of sentiment in each
    busy, quiet = usage(api, "sentiment", chat_id), usage(api, "sentiment", quiet_id)

    # Then the busy chat counts its install, its activation and the three posts after them, and no
    # write of its own
    assert (busy["events"], busy["invocations"], busy["writes"]) == (5, 5, 0)
    assert busy["estimated_usd"] == pytest.approx(5 * USAGE_USD["ExtensionInvocations"], abs=1e-6)
    assert (busy["truncated"], busy["final"]) == (False, False)
    # and the chat that never enabled it, nothing
    assert (quiet["events"], quiet["invocations"], quiet["writes"], quiet["estimated_usd"]) == (0, 0, 0, 0.0)
    # and analytics, on every new chat from its creation: the creation, the owner's join, its own
    # install and activation (it subscribes to no post)
    assert usage(api, "analytics", quiet_id)["events"] == 4


def test_its_bots_messages_are_its_writes(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat with welcome enabled, which greets Bob when he joins (through the bus)
    chat_id = api.create_chat(alice)["chat_id"]
    installed = api.put(f"/chats/{chat_id}/extensions/welcome", alice, body={"enabled": True, "config": {}})
    assert installed.status == 201, installed.text
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()
    assert [m["sender_id"] for m in api.get(f"/chats/{chat_id}/messages", bob).json["items"]] == [
        "ext:welcome"
    ]

    # When an operator asks for welcome's usage there
    figures = usage(api, "welcome", chat_id)

    # Then it was handed its install, its activation and Bob's join, and wrote the greeting
    assert (figures["events"], figures["writes"], figures["writes_by_type"]) == (3, 1, {"MessageStored": 1})
    expected = 3 * USAGE_USD["ExtensionInvocations"] + USAGE_USD["ExtensionWrites"]
    assert figures["estimated_usd"] == pytest.approx(expected, abs=1e-6)


def test_chat_usage_is_for_operators_registered_extensions_and_known_chats(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    path = f"/extensions/sentiment/usage/chats/{chat_id}"
    assert_error(api.get(path, alice), 403, "forbidden")
    assert_error(api.get(f"/extensions/nobody/usage/chats/{chat_id}", OLGA), 404, "extension_not_found")
    unknown = "6f0c1a2e-8d7b-4e3a-9c61-2b4d6e8f0a13"
    assert_error(api.get(f"/extensions/sentiment/usage/chats/{unknown}", OLGA), 404, "chat_not_found")
    assert_error(api.get(path, OLGA, query={"day": "2026-13-01"}), 422, "validation_error")
    assert_error(api.get("/extensions/sentiment/usage/chats/not-a-chat", OLGA), 422, "validation_error")
    assert api.get(path, OLGA).status == 200  # today by default


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_calendars_first_and_last_days_are_refused_not_a_crash(api: Api, alice: User, day: str) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    for path in (f"/extensions/sentiment/usage/chats/{chat_id}", "/extensions/sentiment/usage"):
        assert_error(api.get(path, OLGA, query={"day": day}), 422, "validation_error")
    ok = api.get(f"/extensions/sentiment/usage/chats/{chat_id}", OLGA, query={"day": "9999-12-30"})
    assert ok.status == 200, ok.text


def test_an_operator_lists_the_chats_an_extension_cost_most_today(api: Api, alice: User) -> None:
    # Given two chats with sentiment enabled (one post and three) and one without it
    counts = {}
    for posts in (1, 3, 0):
        chat_id = api.create_chat(alice)["chat_id"]
        if posts:
            body = {"enabled": True, "config": {}}
            assert api.put(f"/chats/{chat_id}/extensions/sentiment", alice, body=body).status == 201
        for n in range(max(posts, 1)):
            assert api.send(alice, chat_id, f"post {n}").status == 201
        counts[chat_id] = posts + 2 if posts else 0  # its install and activation, then the posts

    # When an operator lists today's costliest chats of sentiment
    today = datetime.now(UTC).date().isoformat()
    answer = api.get("/extensions/sentiment/usage/chats", OLGA, query={"day": today, "limit": 5})

    # Then the two chats that enabled it, the busier first, each with its own figures
    assert answer.status == 200, answer.text
    listed = [(item["chat_id"], item["events"]) for item in answer.json["items"]]
    expected = sorted(((c, n) for c, n in counts.items() if n), key=lambda pair: -pair[1])
    assert listed == expected
    assert answer.json["active_chats"] >= 3
    assert_error(api.get("/extensions/sentiment/usage/chats", alice), 403, "forbidden")
    assert_error(
        api.get("/extensions/sentiment/usage/chats", OLGA, query={"limit": 0}), 422, "validation_error"
    )


def test_its_moderation_hooks_calls_count_as_invocations(api: Api, alice: User) -> None:
    # Given a chat with moderation enabled, whose hook rules on each of two posts
    chat_id = api.create_chat(alice)["chat_id"]
    body = {"enabled": True, "config": {}}
    assert api.put(f"/chats/{chat_id}/extensions/moderation", alice, body=body).status == 201
    for text in ("one", "two"):
        assert api.send(alice, chat_id, text).status == 201

    # When an operator asks for moderation's usage there
    figures = usage(api, "moderation", chat_id)

    # Then its install and activation reached its rule, its hook ran twice, and each ruling is a row
    assert (figures["events"], figures["hook_calls"], figures["invocations"]) == (2, 2, 4)
    assert figures["writes_by_type"] == {"MessageModerated": 2}
