"""The chat list as an inbox in Chromium: unread counts and the last message from GET /chats, a chat
marked read when it is on screen, and another tab of the same person following (ReadMarkerMoved)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import User

NewUser = Callable[[str], User]


def item(page: Page, title: str) -> Locator:
    return page.get_by_test_id("chat-item").filter(has_text=title)


def hide(page: Page) -> None:
    """As if the person switched to another tab: the page says it is hidden (headless pages never are)."""
    page.evaluate(
        """() => {
            Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )


def test_unread_counts_and_last_messages_follow_what_is_read_in_any_tab(new_user: NewUser) -> None:
    # Given Alice's book club with Bob, and a second chat she has open in her first tab
    alice = new_user("Alice")
    alice.sign_in()
    link = alice.create_chat("Book club")
    bob = new_user("Bob")
    bob.page.goto(link)
    bob.sign_in()
    bob.wait_for_chat("Book club")
    alice.create_chat("Errands")
    # and, in a second tab, the book club open but out of sight
    second = alice.context.new_page()
    second.goto(link)
    expect(second.get_by_test_id("chat-pane")).to_have_attribute("data-loaded", "true")
    expect(second.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    hide(second)

    # When Bob writes twice in the book club
    bob.send("Chapter one was slow")
    bob.send("But chapter two!")

    # Then the hidden tab counts them as unread, with the last one as the preview
    expect(item(second, "Book club").get_by_test_id("chat-item-unread")).to_have_text("2")
    expect(item(second, "Book club").get_by_test_id("chat-item-preview")).to_have_text(
        "Bob: But chapter two!"
    )
    # and the first tab's list says the same once it asks the server (GET /chats)
    alice.page.get_by_test_id("refresh-chats").click()
    expect(item(alice.page, "Book club").get_by_test_id("chat-item-unread")).to_have_text("2")
    expect(item(alice.page, "Book club").get_by_test_id("chat-item-preview")).to_have_text(
        "Bob: But chapter two!"
    )
    expect(item(alice.page, "Errands").get_by_test_id("chat-item-unread")).to_have_count(0)

    # When Alice opens the book club in her first tab (on screen: it is marked read)
    item(alice.page, "Book club").click()
    alice.wait_for_chat("Book club")

    # Then its count goes in both tabs (the second one hears it as ReadMarkerMoved), and stays gone
    expect(item(alice.page, "Book club").get_by_test_id("chat-item-unread")).to_have_count(0)
    expect(item(second, "Book club").get_by_test_id("chat-item-unread")).to_have_count(0)
    alice.page.reload()
    alice.wait_for_chat("Book club")
    expect(item(alice.page, "Book club").get_by_test_id("chat-item-preview")).to_have_text(
        "Bob: But chapter two!"
    )
    expect(item(alice.page, "Book club").get_by_test_id("chat-item-unread")).to_have_count(0)
    # And her own messages read the chat: no count for what she wrote herself
    alice.send("Agreed!")
    expect(item(alice.page, "Book club").get_by_test_id("chat-item-preview")).to_have_text("You: Agreed!")
    expect(item(bob.page, "Book club").get_by_test_id("chat-item-preview")).to_have_text("Alice: Agreed!")
    assert alice.errors == []
    assert bob.errors == []
