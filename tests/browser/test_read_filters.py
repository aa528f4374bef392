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


def put_extension(user: User, extension_id: str, config: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{user.base}/chats/{user.chat_id}/extensions/{extension_id}",
        data=json.dumps({"enabled": True, "config": config}).encode(),
        method="PUT",
        headers={"content-type": "application/json", "authorization": f"Bearer {session(user)['token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_a_poll_masked_for_bob_shows_no_blocks_and_its_updates_stay_masked(new_user: NewUser) -> None:
    # Given Alice's chat with Bob, the poll extension, and spoilers masked for Bob
    alice, bob = new_user("Alice"), new_user("Bob")
    alice.sign_in()
    link = alice.create_chat("Potions")
    bob.page.goto(link)
    bob.sign_in()
    bob.wait_for_chat("Potions")
    put_extension(alice, "spoilers", {"hide_for": [session(bob)["user_id"]]})
    put_extension(alice, "poll", {})

    # When Alice asks a poll with a spoiler in its question
    composer = alice.page.get_by_test_id("composer-input")
    composer.fill('/poll "Is ||Snape|| the killer?" "Yes" "No"')
    alice.page.get_by_test_id("send-button").click()

    # Then Bob's page shows it masked, as text without the poll; Alice's shows the poll
    masked = bob.page.locator("[data-testid=message][data-filtered=rewritten]")
    expect(masked).to_have_count(1)
    expect(masked).to_contain_text("Is [spoiler] the killer?")
    expect(bob.page.get_by_test_id("poll")).to_have_count(0)
    alice_poll = alice.page.get_by_test_id("poll")
    expect(alice_poll.get_by_test_id("poll-question")).to_have_text("Is ||Snape|| the killer?")

    # When Alice votes (a MessageUpdated), Then Bob's bubble takes the update, still masked, still no poll
    alice_poll.get_by_test_id("poll-option").filter(has_text="Yes").click()
    expect(alice_poll.get_by_test_id("poll-count")).to_have_text(["1", "0"])
    expect(masked).to_contain_text("Yes: 1")
    expect(masked.get_by_test_id("edited-marker")).to_be_visible()
    expect(bob.page.get_by_test_id("poll")).to_have_count(0)
    expect(bob.page.get_by_test_id("chat-pane")).not_to_contain_text("Snape")
    assert alice.errors == []
    assert bob.errors == []
