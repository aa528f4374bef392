"""A read filter in the web client: a spoiler the spoilers extension hides from Bob keeps its place on
his page, marked as hidden for him, while Alice reads it whole."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import User

NewUser = Callable[[str], User]


def session(user: User) -> dict[str, Any]:
    raw = user.page.evaluate("() => localStorage.getItem('parley.session')")
    found: dict[str, Any] = json.loads(raw)
    return found


def test_a_spoiler_hidden_from_bob_is_marked_on_his_page(new_user: NewUser) -> None:
    # Given Alice's chat with Bob, where the spoilers extension hides spoilers from Bob altogether
    alice, bob = new_user("Alice"), new_user("Bob")
    alice.sign_in()
    link = alice.create_chat("Finale")
    bob.page.goto(link)
    bob.sign_in()
    bob.wait_for_chat("Finale")
    body = {"enabled": True, "config": {"hide_for": [session(bob)["user_id"]], "hide_whole_message": True}}
    request = urllib.request.Request(
        f"{alice.base}/chats/{alice.chat_id}/extensions/spoilers",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"content-type": "application/json", "authorization": f"Bearer {session(alice)['token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201

    # When Alice posts a spoiler
    alice.send("It was ||the gardener|| all along")

    # Then Bob's page shows its place, marked hidden, without the text; Alice's shows it whole
    hidden = bob.page.locator("[data-testid=message][data-filtered=hidden]")
    expect(hidden).to_have_count(1)
    expect(hidden).to_contain_text("hidden for you by a filter")
    expect(bob.page.get_by_test_id("chat-pane")).not_to_contain_text("gardener")
    expect(alice.message("the gardener")).to_be_visible()
    # and a reload (the history read) shows him the same
    bob.page.reload()
    bob.wait_for_chat("Finale")
    expect(bob.page.locator("[data-testid=message][data-filtered=hidden]")).to_have_count(1)
    assert alice.errors == []
    assert bob.errors == []
