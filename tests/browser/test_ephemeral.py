"""An ephemeral message in the web client: the welcome bot set to `private` greets the joiner alone,
in a bubble marked "Only you can see this" that no one else gets and a reload does not bring back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import User, axe_violations
from tests.support.stack import Client

NewUser = Callable[[str], User]


def test_a_private_greeting_is_marked_for_the_joiner_alone_and_gone_on_reload(
    new_user: NewUser, artifacts: Path
) -> None:
    # Given Alice's chat with the welcome bot installed to greet in private
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Private welcome")
    # (installed over HTTP with her session: the extensions panel is tested in test_product.py)
    session = json.loads(alice.page.evaluate("localStorage.getItem('parley.session')"))
    as_alice = Client(alice.base, session["user_id"], "Alice")
    as_alice.token = session["token"]
    body = {
        "enabled": True,
        "config": {"template": "Psst {name}, the snacks are in the fridge", "private": True},
    }
    installed = as_alice.call("PUT", f"/chats/{alice.chat_id}/extensions/welcome", body)
    assert installed.status == 201, installed.json

    # When Bob joins
    bob = new_user("Bob")
    bob.sign_in()
    bob.join(alice.chat_id)
    bob.wait_for_chat("Private welcome")

    # Then Bob sees the greeting, marked as his alone, and not as a message of the chat
    greeting = bob.page.get_by_test_id("ephemeral-message").filter(has_text="the snacks are in the fridge")
    expect(greeting).to_be_visible()
    expect(greeting.get_by_test_id("only-you")).to_have_text("Only you can see this")
    expect(greeting).to_contain_text("Welcome bot")
    expect(bob.message("the snacks are in the fridge")).to_have_count(0)
    assert axe_violations(bob.page, "ephemeral-message") == []
    bob.page.screenshot(path=artifacts / "browser-ephemeral.png")

    # And Alice, who sees Bob join, never gets it
    expect(alice.page.get_by_test_id("notice").filter(has_text="Bob joined")).to_be_visible()
    alice.send("welcome aboard")
    expect(bob.message("welcome aboard")).to_be_visible()
    expect(alice.page.get_by_text("the snacks are in the fridge")).to_have_count(0)
    expect(alice.page.get_by_test_id("ephemeral-message")).to_have_count(0)

    # And after a reload Bob's history has the chat's messages, not the greeting (it was never stored)
    bob.page.reload()
    bob.wait_for_chat("Private welcome")
    expect(bob.message("welcome aboard")).to_be_visible()
    expect(bob.page.get_by_text("the snacks are in the fridge")).to_have_count(0)
    assert alice.errors == []
    assert bob.errors == []
