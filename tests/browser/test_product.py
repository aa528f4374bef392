"""The web client covers the product: the four turn modes, the floor in moderated chats, presence, the
extensions panel, settings, gap detection, and zero axe-core violations on every panel."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Route, WebSocketRoute, expect

from tests.browser.conftest import User, axe_violations

NewUser = Callable[[str], User]


def open_drawer(user: User, name: str) -> None:
    user.page.get_by_test_id(f"{name}-button").click()
    expect(user.page.get_by_test_id(f"{name}-panel")).to_be_visible()
    expect(user.page.get_by_test_id(f"{name}-button")).to_have_attribute("aria-expanded", "true")


def participant(user: User, participant_id: str) -> Locator:
    return user.page.locator(f"[data-testid=participant][data-participant-id='{participant_id}']")


def me(user: User) -> str:
    value = user.page.get_by_test_id("me-id").inner_text()
    assert value
    return value


def test_every_turn_mode_can_be_chosen_at_creation(new_user: NewUser) -> None:
    alice = new_user("Alice")
    alice.sign_in()
    for mode, label in (
        ("free", "Free for all"),
        ("round-robin", "Your turn"),
        ("alternating", "Your turn"),
        ("moderated", "Your turn"),  # the floor rests with the chair: the owner
    ):
        alice.page.get_by_test_id("chat-title-input").fill(f"A {mode} chat")
        alice.page.get_by_test_id(f"turn-mode-{mode}").check()
        alice.page.get_by_test_id("create-chat-button").click()
        alice.wait_for_chat(f"A {mode} chat")
        turn = alice.page.get_by_test_id("turn-indicator")
        expect(turn).to_have_attribute("data-mode", mode.replace("-", "_"))
        expect(turn).to_have_text(label)
    items = alice.page.get_by_test_id("chat-item")
    expect(items).to_have_count(4)
    for meta in ("free for all", "round robin", "alternating (people, then ai)", "moderated"):
        expect(items.filter(has_text=meta)).to_have_count(1)
    assert alice.errors == []


def moderated_chat(new_user: NewUser) -> tuple[User, User]:
    """Alice's moderated chat, which Bob joined; both signed in and looking at it."""
    alice = new_user("Alice")
    alice.sign_in()
    alice.page.get_by_test_id("chat-title-input").fill("Town hall")
    alice.page.get_by_test_id("turn-mode-moderated").check()
    alice.page.get_by_test_id("create-chat-button").click()
    alice.wait_for_chat("Town hall")
    bob = new_user("Bob")
    bob.sign_in()
    bob.join(alice.chat_id)
    bob.wait_for_chat("Town hall")
    return alice, bob


def test_a_moderator_gives_the_floor_and_everyone_sees_who_has_it_and_why(
    new_user: NewUser, artifacts: Path
) -> None:
    alice, bob = moderated_chat(new_user)
    alice_id, bob_id = me(alice), me(bob)

    # Presence: both see each other online in the list of people
    open_drawer(alice, "people")
    open_drawer(bob, "people")
    for user in (alice, bob):
        expect(participant(user, alice_id)).to_have_attribute("data-online", "true")
        expect(participant(user, bob_id)).to_have_attribute("data-online", "true")
        expect(user.page.get_by_test_id("people-summary")).to_have_text("2 in chat · 2 online now")
    # only a moderator is offered the floor to give, and settings and extensions
    expect(bob.page.get_by_test_id("grant-floor")).to_have_count(0)
    expect(bob.page.get_by_test_id("settings-button")).to_be_hidden()
    expect(bob.page.get_by_test_id("extensions-button")).to_be_hidden()
    expect(bob.page.get_by_test_id("composer-input")).to_be_disabled()
    assert axe_violations(alice.page, "people-panel") == []

    # Alice gives Bob the floor: both see who holds it and why it moved
    participant(alice, bob_id).get_by_test_id("grant-floor").click()
    expect(bob.page.get_by_test_id("turn-indicator")).to_have_text("Your turn")
    expect(bob.page.get_by_test_id("turn-reason")).to_have_text("You have the floor: Alice gave the floor.")
    expect(alice.page.get_by_test_id("turn-indicator")).to_have_text("Bob's turn")
    expect(alice.page.get_by_test_id("turn-reason")).to_have_text("Bob has the floor: you gave the floor.")
    expect(participant(alice, bob_id).get_by_test_id("floor-badge")).to_be_visible()
    expect(alice.page.get_by_test_id("composer-input")).to_be_disabled()
    alice.page.screenshot(path=artifacts / "browser-moderated-floor.png")

    # Bob speaks; the floor rests with the chair again, and says so
    bob.page.get_by_test_id("people-close").click()
    expect(bob.page.get_by_test_id("people-button")).to_have_attribute("aria-expanded", "false")
    bob.send("Thank you, chair")
    expect(alice.message("Thank you, chair")).to_be_visible()
    expect(alice.page.get_by_test_id("turn-indicator")).to_have_text("Your turn")
    expect(bob.page.get_by_test_id("turn-reason")).to_have_text("Alice has the floor: you posted.")
    expect(bob.page.get_by_test_id("composer-input")).to_be_disabled()

    # Presence: Bob goes away; Alice sees him offline (her list of people is still open)
    expect(alice.page.get_by_test_id("people-panel")).to_be_visible()
    bob.page.close()
    expect(participant(alice, bob_id)).to_have_attribute("data-online", "false")
    expect(alice.page.get_by_test_id("people-summary")).to_have_text("2 in chat · 1 online now")
    alice.page.screenshot(path=artifacts / "browser-presence.png")
    assert alice.errors == []
    assert bob.errors == []


def test_settings_change_the_turn_mode_and_show_errors_beside_their_field(
    new_user: NewUser, artifacts: Path
) -> None:
    alice, bob = moderated_chat(new_user)

    # Alice switches the chat to alternating in its settings; Bob sees the change
    open_drawer(alice, "settings")
    assert axe_violations(alice.page, "settings-panel") == []
    alice.page.get_by_test_id("settings-turn-mode").select_option("alternating")
    alice.page.get_by_test_id("settings-save").click()
    expect(alice.page.get_by_test_id("settings-status")).to_have_text("Saved.")
    expect(
        bob.page.get_by_test_id("notice").filter(has_text="Turn taking is now alternating")
    ).to_be_visible()
    expect(bob.page.get_by_test_id("turn-indicator")).to_have_attribute("data-mode", "alternating")
    expect(bob.page.get_by_test_id("turn-reason")).to_have_text(
        "Alice has the floor: turn taking became alternating (people, then ai)."
    )

    # a value the server refuses is shown beside its field, as the server names it
    alice.page.locator("#settings-turn_timeout_seconds").fill("2")
    alice.page.get_by_test_id("settings-save").click()
    error = alice.page.locator("[data-testid=field-error][data-field='body.turn_timeout_seconds']")
    expect(error).to_contain_text("greater than or equal to 5")
    expect(alice.page.locator("#settings-turn_timeout_seconds")).to_have_attribute("aria-invalid", "true")
    assert axe_violations(alice.page, "settings-panel-error") == []
    alice.page.screenshot(path=artifacts / "browser-settings.png")
    assert alice.errors == []
    assert bob.errors == []


def extension(user: User, extension_id: str) -> Locator:
    return user.page.locator(f"[data-testid=extension][data-extension-id='{extension_id}']")


def test_the_extensions_panel_installs_configures_and_toggles(new_user: NewUser, artifacts: Path) -> None:
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("With extensions")
    open_drawer(alice, "extensions")
    # the first GET /extensions of a fresh stack loads the registry: slow on a busy machine
    panel = alice.page.get_by_test_id("extensions-panel")
    expect(panel).to_have_attribute("data-state", re.compile("^(ready|error)$"), timeout=45_000)
    assert panel.get_attribute("data-state") == "ready", panel.inner_text()

    # every registered extension is listed, with this chat's installs
    for extension_id in ("analytics", "moderation", "sentiment", "webhook", "welcome"):
        expect(extension(alice, extension_id)).to_have_count(1)
    expect(extension(alice, "analytics")).to_have_attribute("data-status", "enabled")
    expect(extension(alice, "welcome")).to_have_attribute("data-status", "not_installed")
    assert axe_violations(alice.page, "extensions-panel") == []

    # the form comes from the schema: a refused config shows each problem beside its field
    webhook = extension(alice, "webhook")
    webhook.locator("#ext-webhook-url").fill("not a url")
    webhook.locator("#ext-webhook-secret").fill("short")
    webhook.get_by_test_id("extension-save").click()
    expect(webhook.locator("[data-field='config.url']")).to_contain_text("does not match")
    expect(webhook.locator("[data-field='config.secret']")).to_contain_text("is too short")
    expect(webhook.locator("#ext-webhook-url")).to_have_attribute("aria-invalid", "true")
    expect(webhook).to_have_attribute("data-status", "not_installed")
    assert axe_violations(alice.page, "extensions-panel-errors") == []
    alice.page.screenshot(path=artifacts / "browser-extensions-errors.png")

    moderation = extension(alice, "moderation")
    moderation.locator("#ext-moderation-blocked_terms").fill("fine\n" + "x" * 51)
    moderation.get_by_test_id("extension-save").click()
    expect(moderation.locator("[data-field='config.blocked_terms']")).to_contain_text("(item 2)")

    # a valid config installs it; the welcome bot then greets the next joiner with it
    welcome = extension(alice, "welcome")
    welcome.locator("#ext-welcome-template").fill("Hello {name}, glad you came!")
    welcome.get_by_test_id("extension-save").click()
    expect(welcome).to_have_attribute("data-status", "enabled")
    expect(welcome.locator("#ext-welcome-template")).to_have_value("Hello {name}, glad you came!")
    bob = new_user("Bob")
    bob.sign_in()
    bob.join(alice.chat_id)
    expect(bob.message("Hello Bob, glad you came!")).to_be_visible()

    # disable and enable again
    analytics = extension(alice, "analytics")
    analytics.get_by_test_id("extension-toggle").click()
    expect(analytics).to_have_attribute("data-status", "disabled")
    expect(analytics.get_by_test_id("extension-toggle")).to_have_text("Enable")
    analytics.get_by_test_id("extension-toggle").click()
    expect(analytics).to_have_attribute("data-status", "enabled")
    alice.page.screenshot(path=artifacts / "browser-extensions.png")
    assert alice.errors == []
    assert bob.errors == []


REGISTRY = re.compile(r"^https?://[^/]+/extensions$")  # GET /extensions, not a chat's installs


def test_a_failed_read_is_retried_once_then_said_in_the_panel_with_a_way_to_try_again(
    new_user: NewUser,
) -> None:
    """A 503 on GET /extensions is retried by itself; a server that keeps failing leaves the panel in
    an error state (never "loading" for good) whose button loads it once the server is back."""
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Flaky registry")
    answers: list[int] = []

    def unavailable(route: Route) -> None:
        answers.append(503)
        route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "try later"}})

    alice.page.route(REGISTRY, unavailable, times=1)
    open_drawer(alice, "extensions")
    panel = alice.page.get_by_test_id("extensions-panel")
    expect(panel).to_have_attribute("data-state", "ready")
    assert answers == [503]  # one failure, then the retry's answer
    alice.page.get_by_test_id("extensions-button").click()  # closed

    alice.page.route(REGISTRY, unavailable)
    open_drawer(alice, "extensions")
    expect(panel).to_have_attribute("data-state", "error")
    expect(alice.page.get_by_test_id("extensions-error")).to_contain_text("try later")
    assert len(answers) == 3  # the first try and one retry, no more
    alice.page.unroute(REGISTRY)
    alice.page.get_by_test_id("extensions-retry").click()
    expect(panel).to_have_attribute("data-state", "ready")
    expect(extension(alice, "welcome")).to_have_count(1)
    assert alice.errors == []


def test_a_skipped_sequence_fetches_the_missing_range_before_applying(new_user: NewUser) -> None:
    """Bob's socket loses one frame on the way (his page never sees it): the next frame's sequence skips
    ahead, so the page fetches the missing event from /events and shows both, in order."""
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Gaps")
    bob = new_user("Bob")
    lost: list[dict[str, object]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            text = str(frame.get("data", {}).get("message", {}).get("text", "")) if frame.get("data") else ""
            if frame.get("type") == "MessageStored" and text == "this one is lost":
                lost.append(frame)
                return
            ws.send(message)

        server.on_message(from_server)

    bob.page.route_web_socket(re.compile(r"/ws\?ticket="), route)
    bob.sign_in()
    bob.join(alice.chat_id)
    bob.wait_for_chat("Gaps")
    expect(alice.page.get_by_test_id("notice").filter(has_text="Bob joined")).to_be_visible()

    alice.send("this one is lost")
    expect(alice.message("this one is lost")).to_have_count(1)
    alice.send("this one arrives")
    expect(bob.message("this one arrives")).to_be_visible()
    expect(bob.message("this one is lost")).to_be_visible()  # fetched, not pushed
    assert len(lost) == 1
    messages = bob.page.get_by_test_id("message")
    expect(messages).to_have_count(2)
    assert messages.evaluate_all("items => items.map(item => item.textContent)")[0].endswith(
        "this one is lost"
    )
    assert bob.page.evaluate("window.parley.gapFetches") >= 1
    assert bob.page.evaluate("window.parley.lastEventSequence") > int(str(lost[0]["sequence"]))
    assert bob.errors == []


def test_every_panel_has_no_axe_violations(new_user: NewUser) -> None:
    alice = new_user("Alice")
    alice.page.goto(f"{alice.base}/")
    assert axe_violations(alice.page, "signin") == []
    alice.sign_in()
    assert axe_violations(alice.page, "empty") == []
    alice.create_chat("Accessible")
    alice.send("hello")
    expect(alice.message("hello")).to_be_visible()
    assert axe_violations(alice.page, "chat") == []
    open_drawer(alice, "analytics")
    expect(alice.page.get_by_test_id("analytics-panel")).to_have_attribute("data-state", "ready")
    assert axe_violations(alice.page, "analytics-panel") == []
    alice.page.set_viewport_size({"width": 390, "height": 780})
    assert axe_violations(alice.page, "chat-narrow") == []
    assert alice.errors == []
