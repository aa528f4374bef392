"""A whisper in three real Chromium pages: the composer picks its recipient, the sender and the addressee
see it marked "only you and X can see this", the third member sees neither its text nor a gap."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import User, axe_violations

NewUser = Callable[[str], User]
SECRET = "the surprise party is on Friday"


def test_a_whisper_reaches_one_and_the_third_sees_neither_text_nor_gap(new_user: NewUser) -> None:
    # Given Alice's chat with Bob and Carol
    alice = new_user("Alice")
    alice.sign_in()
    link = alice.create_chat("Planning")
    bob, carol = new_user("Bob"), new_user("Carol")
    for user in (bob, carol):
        user.page.goto(link)
        user.sign_in()
        user.wait_for_chat("Planning")
    expect(alice.page.get_by_test_id("participants")).to_contain_text("Carol")

    # When Alice picks Bob in the whisper composer and sends, then posts to everyone
    alice.page.get_by_test_id("whisper-toggle").click()
    alice.page.get_by_test_id("whisper-recipients").get_by_label("Bob").check()
    expect(alice.page.get_by_test_id("whisper-toggle")).to_have_text("Whisper to Bob")
    alice.send(SECRET)
    expect(alice.page.get_by_test_id("whisper-toggle")).to_have_text("Whisper")  # the next goes to all
    alice.send("Lunch at noon, everyone?")

    # Then Bob sees the whisper, marked as seen only by him and Alice; Alice sees it marked for Bob
    expect(bob.message(SECRET).get_by_test_id("whisper-marker")).to_have_text(
        "Only you and Alice can see this"
    )
    expect(alice.message(SECRET).get_by_test_id("whisper-marker")).to_have_text(
        "Only you and Bob can see this"
    )
    expect(bob.message("Lunch at noon")).to_be_visible()
    expect(bob.message("Lunch at noon").get_by_test_id("whisper-marker")).to_have_count(0)
    # And the page, whisper marked and picker open, has no axe violations
    alice.page.get_by_test_id("whisper-toggle").click()
    expect(alice.page.get_by_test_id("whisper-recipient")).to_have_count(2)
    assert axe_violations(alice.page, "whisper") == []

    # And Carol sees the public post, never the whisper, and fetched no gap for it (a Withheld marker)
    expect(carol.message("Lunch at noon")).to_be_visible()
    expect(carol.message(SECRET)).to_have_count(0)
    assert SECRET not in carol.page.content()
    assert carol.page.evaluate("window.parley.gapFetches") == 0
    # And after a reload her history skips the whisper too
    carol.page.reload()
    carol.wait_for_chat("Planning")
    expect(carol.message("Lunch at noon")).to_be_visible()
    expect(carol.page.get_by_test_id("message")).to_have_count(1)
    for user in (alice, bob, carol):
        assert user.errors == []
