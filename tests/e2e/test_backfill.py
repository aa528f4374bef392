"""Backfill on the running local stack: analytics enabled on an old chat counts the whole chat, the
past handed to it by the backfill route (and nothing else in the chat changes)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.stack import Client


def _report(client: Client, chat_id: str) -> dict[str, Any]:
    response = client.call("GET", f"/chats/{chat_id}/analytics")
    assert response.status == 200, response.json
    report: dict[str, Any] = response.json
    return report


def test_analytics_enabled_on_an_old_chat_counts_its_past(stack: str) -> None:
    # Given an old chat whose analytics was uninstalled before anyone spoke
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Old news")
    assert alice.call("DELETE", f"/chats/{chat_id}/extensions/analytics").status == 204
    bob.join(chat_id)
    texts = ["first", "second one", "third, late"]
    for n, text in enumerate(texts):
        (alice if n % 2 == 0 else bob).post(chat_id, text)
    log_before = alice.call("GET", f"/chats/{chat_id}/events?limit=200").json["items"]

    # When Alice enables analytics on it
    response = alice.call("PUT", f"/chats/{chat_id}/extensions/analytics", {"enabled": True, "config": {}})
    assert response.status == 201, response.json

    # Then its report soon counts the three messages written before it was enabled
    deadline = time.monotonic() + 20
    report = _report(alice, chat_id)
    while time.monotonic() < deadline and report["messages"]["count"] < len(texts):
        time.sleep(0.3)
        report = _report(alice, chat_id)
    assert report["messages"]["count"] == len(texts)
    assert report["messages"]["total_length"] == sum(map(len, texts))
    # And the chat's log only grew by the install's own events: the past was not written again
    log_after = alice.call("GET", f"/chats/{chat_id}/events?limit=200").json["items"]
    assert log_after[: len(log_before)] == log_before
    assert [e["metadata"]["event_type"] for e in log_after[len(log_before) :]] == [
        "ExtensionInstalled",
        "ExtensionActivated",
    ]
    assert log_after[-1]["data"]["backfill_through"] == log_before[-1]["metadata"]["sequence"]
