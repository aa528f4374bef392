"""Shadow mode in Chromium: a moderator sees what a shadow moderation config would have done, as a
notice in the conversation; a member sees nothing of it."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.conftest import User

NewUser = Callable[[str], User]


def test_a_moderator_sees_the_shadow_configs_rulings_and_a_member_does_not(new_user: NewUser) -> None:
    # Given Alice's chat with moderation live and a stricter config in shadow (set over the API)
    alice = new_user("Alice")
    alice.sign_in()
    link = alice.create_chat("Spoiler-free")
    status = alice.page.evaluate(
        """async (chatId) => {
            const token = JSON.parse(localStorage.getItem("parley.session")).token;
            const response = await fetch(`/chats/${chatId}/extensions/moderation`, {
                method: "PUT",
                headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
                body: JSON.stringify({
                    enabled: true,
                    config: { blocked_terms: ["spoiler"] },
                    shadow_config: { blocked_terms: ["spoiler", "ending"] },
                }),
            });
            return response.status;
        }""",
        alice.chat_id,
    )
    assert status == 201
    bob = new_user("Bob")
    bob.page.goto(link)
    bob.sign_in()
    bob.wait_for_chat("Spoiler-free")

    # When Bob posts what only the shadow config blocks
    bob.send("The ending was great")

    # Then the post stands for both, and only Alice is told what the shadow config would have done
    for user in (alice, bob):
        expect(user.message("The ending was great")).to_be_visible()
    expect(alice.page.get_by_test_id("notice").filter(has_text="shadow config")).to_have_text(
        "moderation (shadow config) would have rejected this message: "
        'the message contains a blocked term: "ending"'
    )
    bob.send("Still no spoilers here?")  # pushed after the ruling's frame would have been
    expect(alice.message("Still no spoilers here?")).to_be_visible()
    expect(bob.page.get_by_test_id("notice").filter(has_text="shadow")).to_have_count(0)
    assert alice.errors == []
    assert bob.errors == []
