"""The poll in the web client: typed as a slash command in the composer, it shows as a poll with counts
and bars; a vote in one member's page moves the count in another's (MessageUpdated), a vote can be
changed, only the author's Close works, and a reload shows the latest version marked edited."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, expect

from tests.browser.conftest import User, axe_violations
from tests.support.stack import Client

NewUser = Callable[[str], User]


def counts(poll: Locator) -> list[str]:
    values: list[str] = poll.get_by_test_id("poll-count").all_inner_texts()
    return values


def option(poll: Locator, label: str) -> Locator:
    return poll.get_by_test_id("poll-option").filter(has_text=label)


def test_a_poll_typed_in_the_composer_counts_live_changeable_votes(
    new_user: NewUser, artifacts: Path
) -> None:
    # Given Alice's chat with the poll extension enabled, and Bob in it
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Lunch crew")
    session = json.loads(alice.page.evaluate("localStorage.getItem('parley.session')"))
    as_alice = Client(alice.base, session["user_id"], "Alice")
    as_alice.token = session["token"]
    installed = as_alice.call(
        "PUT", f"/chats/{alice.chat_id}/extensions/poll", {"enabled": True, "config": {}}
    )
    assert installed.status == 201, installed.json
    bob = new_user("Bob")
    bob.sign_in()
    bob.join(alice.chat_id)
    bob.wait_for_chat("Lunch crew")

    # When Alice starts typing a command, the composer lists it with its usage
    composer = alice.page.get_by_test_id("composer-input")
    composer.press_sequentially("/po", delay=20)
    expect(alice.page.get_by_test_id("command-suggestion")).to_contain_text("/poll")
    # And she sends the poll
    composer.fill('/poll "Lunch?" "Pizza" "Sushi"')
    alice.page.get_by_test_id("send-button").click()

    # Then both see the poll, with no vote yet, and the command itself is no message
    polls = [user.page.get_by_test_id("poll") for user in (alice, bob)]
    for poll in polls:
        expect(poll.get_by_test_id("poll-question")).to_have_text("Lunch?")
        expect(poll.get_by_test_id("poll-count")).to_have_text(["0", "0"])
    expect(alice.message("/poll")).to_have_count(0)
    expect(alice.page.get_by_test_id("pending-message")).to_have_count(0)
    alice_poll, bob_poll = polls

    # When Bob votes Pizza, Then Alice's page shows the count move
    option(bob_poll, "Pizza").click()
    expect(alice_poll.get_by_test_id("poll-count")).to_have_text(["1", "0"])
    expect(
        alice.page.get_by_test_id("message").filter(has=alice_poll).get_by_test_id("edited-marker")
    ).to_be_visible()
    # When Alice votes Sushi and Bob changes his vote to Sushi
    option(alice_poll, "Sushi").click()
    expect(bob_poll.get_by_test_id("poll-count")).to_have_text(["1", "1"])
    option(bob_poll, "Sushi").click()
    # Then each sees one vote per member, Bob's moved
    for poll in polls:
        expect(poll.get_by_test_id("poll-count")).to_have_text(["0", "2"])
    expect(option(bob_poll, "Sushi")).to_have_attribute("aria-pressed", "true")
    assert axe_violations(bob.page, "poll") == []
    bob.page.screenshot(path=artifacts / "browser-poll.png")

    # When Bob clicks Close, it stays open (only the author may close it); Alice's Close closes it
    bob.page.get_by_test_id("block-button").filter(has_text="Close poll").click()
    expect(bob.page.get_by_test_id("ephemeral-message")).to_contain_text("Only the poll's author")
    alice.page.get_by_test_id("block-button").filter(has_text="Close poll").click()
    for poll in polls:
        expect(poll.get_by_test_id("poll-status")).to_contain_text("2 votes · Closed")
        expect(poll.get_by_test_id("poll-option").first).to_be_disabled()

    # And a reload shows the latest version, marked edited
    bob.page.reload()
    bob.wait_for_chat("Lunch crew")
    reloaded = bob.page.get_by_test_id("poll")
    expect(reloaded.get_by_test_id("poll-count")).to_have_text(["0", "2"])
    expect(reloaded.get_by_test_id("poll-status")).to_contain_text("Closed")
    expect(bob.page.get_by_test_id("edited-marker")).to_be_visible()
    assert alice.errors == []
    assert bob.errors == []
