"""Two people in two real Chromium pages chat through the local stack (web client in web/)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import WebSocketRoute, expect

from tests.browser.conftest import User

NewUser = Callable[[str], User]


def sequences(user: User) -> list[str]:
    """The data-sequence of every message on the page, in page order."""
    values: list[str] = user.page.get_by_test_id("message").evaluate_all(
        "items => items.map(item => item.dataset.sequence)"
    )
    return values


def test_two_users_see_each_other(new_user: NewUser, artifacts: Path) -> None:
    alice = new_user("Alice")
    alice.sign_in()
    link = alice.create_chat("Weekend plans")

    # Bob opens the invite link before he has a name: he signs in, then joins and sees the chat
    bob = new_user("Bob")
    bob.page.goto(link)
    expect(bob.page.get_by_test_id("signin-invite")).to_be_visible()
    bob.sign_in()
    bob.wait_for_chat("Weekend plans")
    expect(bob.page.get_by_test_id("chat-item")).to_have_count(1)
    expect(alice.page.get_by_test_id("notice").filter(has_text="Bob joined")).to_be_visible()
    expect(alice.page.get_by_test_id("participants")).to_contain_text("Bob")

    alice.send("Hi Bob! Hiking on Saturday?")
    expect(bob.message("Hiking on Saturday?")).to_be_visible()
    expect(bob.message("Hiking on Saturday?")).to_contain_text("Alice")

    # Bob types: Alice sees it; his message arrives and the indicator goes away
    bob.page.get_by_test_id("composer-input").press_sequentially("Count me in", delay=20)
    typing = alice.page.get_by_test_id("typing-indicator")
    expect(typing).to_be_visible()
    expect(typing).to_have_text("Bob is typing…")
    expect(bob.page.get_by_test_id("typing-indicator")).to_be_hidden()  # never your own
    bob.page.get_by_test_id("composer-input").press("Enter")
    expect(alice.message("Count me in")).to_be_visible()
    expect(typing).to_be_hidden()

    for user in (alice, bob):
        expect(user.page.get_by_test_id("message")).to_have_count(2)
        assert sequences(user) == ["1", "2"]
        expect(user.page.get_by_test_id("turn-indicator")).to_have_text("Free for all")

    alice_shot, bob_shot = artifacts / "browser-alice.png", artifacts / "browser-bob.png"
    alice.page.screenshot(path=alice_shot)
    bob.page.screenshot(path=bob_shot)
    # on a phone-sized screen the conversation takes the whole width, the list is one tap away
    bob_narrow = artifacts / "browser-bob-narrow.png"
    bob.page.set_viewport_size({"width": 390, "height": 780})
    expect(bob.page.get_by_test_id("chat-list")).to_be_hidden()
    expect(bob.message("Hiking on Saturday?")).to_be_visible()
    bob.page.screenshot(path=bob_narrow)
    bob.page.get_by_test_id("back-button").click()
    expect(bob.page.get_by_test_id("chat-item")).to_be_visible()
    for shot in (alice_shot, bob_shot, bob_narrow):
        assert shot.exists()
        assert shot.stat().st_size > 10_000
    assert alice.errors == []
    assert bob.errors == []


def test_dropped_socket_resumes_with_what_it_missed(new_user: NewUser, artifacts: Path) -> None:
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Resume")
    chat_id = alice.chat_id

    bob = new_user("Bob")
    bob.sign_in()
    bob.join(chat_id)
    bob.wait_for_chat("Resume")
    alice.send("before the drop")
    expect(bob.message("before the drop")).to_be_visible()
    assert bob.page.evaluate("window.parley.connects") == 1

    # the network goes away under Bob's socket; reconnect attempts fail until it is back
    bob.context.set_offline(True)
    bob.page.evaluate("window.parley.dropSocket()")
    status = bob.page.get_by_test_id("connection-status")
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(bob.page.get_by_test_id("connection-bar")).to_be_visible()

    alice.send("while you were away (1)")
    expect(alice.message("while you were away (1)")).to_have_attribute("data-sequence", "2")
    alice.send("while you were away (2)")
    expect(alice.message("while you were away (2)")).to_have_attribute("data-sequence", "3")
    expect(bob.message("while you were away")).to_have_count(0)

    bob.context.set_offline(False)
    expect(status).to_have_attribute("data-state", "live")
    expect(bob.message("while you were away (1)")).to_have_count(1)
    expect(bob.message("while you were away (2)")).to_have_count(1)
    expect(bob.page.get_by_test_id("message")).to_have_count(3)
    assert sequences(bob) == ["1", "2", "3"]
    assert bob.page.evaluate("window.parley.connects") == 2

    # and the resumed socket is live again
    alice.send("after the drop")
    expect(bob.message("after the drop")).to_have_count(1)
    bob.page.screenshot(path=artifacts / "browser-bob-resumed.png")
    assert alice.errors == []
    assert bob.errors == []


WATCH_STREAM = """() => {
  window.streamed = [];
  const record = () => {
    for (const text of document.querySelectorAll("[data-testid=ai-stream] .text")) {
      const seen = text.textContent;
      if (seen && window.streamed.at(-1) !== seen) window.streamed.push(seen);
    }
  };
  new MutationObserver(record).observe(document.getElementById("message-list"),
    {subtree: true, childList: true, characterData: true});
}"""


def test_round_robin_with_an_ai_reply_streaming_in(new_user: NewUser, artifacts: Path) -> None:
    """The AI responder (the local model provider) answers on its turn, streaming; then the
    floor comes back."""
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Poetry", round_robin=True, ai_name="Sage")
    turn = alice.page.get_by_test_id("turn-indicator")
    composer = alice.page.get_by_test_id("composer-input")
    expect(turn).to_have_text("Your turn")
    expect(composer).to_be_enabled()
    alice.page.evaluate(WATCH_STREAM)

    alice.send("A haiku about autumn, please")
    expect(turn).to_have_text("Sage (AI)'s turn")
    expect(composer).to_be_disabled()
    expect(alice.page.get_by_test_id("composer-hint")).to_contain_text("Sage (AI) has the turn")

    reply = alice.page.locator("[data-testid=message][data-sender-id=sage]")
    expect(reply).to_have_count(1)
    expect(reply).to_have_attribute("data-sequence", "2")
    expect(reply).to_contain_text("A haiku about autumn, please")
    expect(alice.page.get_by_test_id("ai-stream")).to_have_count(0)  # the stored reply replaced it
    expect(turn).to_have_text("Your turn")
    expect(composer).to_be_enabled()
    final = reply.locator(".text").inner_text()
    streamed: list[str] = alice.page.evaluate("window.streamed")
    assert len(streamed) >= 2, streamed  # it grew in steps before it was stored
    assert all(final.startswith(part) for part in streamed), (streamed, final)
    alice.page.screenshot(path=artifacts / "browser-ai-reply.png")
    assert alice.errors == []


def test_ai_frames_out_of_order_repeated_or_unknown(new_user: NewUser) -> None:
    """Frames injected into the page's socket: chunks placed by index, repeats dropped, unknown
    types ignored and never answered, a failure explained."""
    alice = new_user("Alice")
    sockets: list[WebSocketRoute] = []
    sent: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            sent.append(str(message))
            server.send(message)

        ws.on_message(forward)
        sockets.append(ws)

    alice.page.route_web_socket(re.compile(r"/ws\?ticket="), route)
    alice.sign_in()
    alice.create_chat("Injected")
    chat_id = alice.chat_id

    def push(kind: str, data: dict[str, object], sequence: int | None = None) -> None:
        event_id = f"test-{kind}-{sequence}-{data.get('index')}"  # the same for a repeated frame
        frame: dict[str, object] = {"type": kind, "chat_id": chat_id, "event_id": event_id, "data": data}
        if sequence is not None:
            frame["sequence"] = sequence
        sockets[-1].send(json.dumps(frame))

    ids = {"request_id": "r1", "participant_id": "muse"}
    push("AIResponseStarted", {**ids, "model": "local"})
    stream = alice.page.get_by_test_id("ai-stream")
    expect(stream).to_be_visible()
    lines = ["Crimson leaves drift down,\n", "the river carries them home,\n", "quiet afternoon."]
    push("AIResponseChunk", {**ids, "index": 1, "text": lines[1]})
    push("AIResponseChunk", {**ids, "index": 0, "text": lines[0]})
    push("AIResponseChunk", {**ids, "index": 1, "text": lines[1]})  # repeated
    push("AIResponseChunk", {**ids, "index": 2, "text": lines[2]})
    expect(stream.locator(".text")).to_have_text("".join(lines))

    before = len(sent)
    push("SomethingNew", {"hello": "world"}, sequence=1000)
    push("AIResponseStarted", {**ids, "model": "local"})  # repeated
    push("AIResponseFailed", {**ids, "reason": "timeout", "detail": "too slow"}, sequence=1001)
    expect(stream).to_have_count(0)
    expect(alice.page.get_by_test_id("notice").filter(has_text="could not answer")).to_have_count(1)
    push("AIResponseChunk", {**ids, "index": 3, "text": "late"})  # after the end: ignored
    push("AIResponseFailed", {**ids, "reason": "timeout", "detail": "too slow"}, sequence=1001)
    alice.send("still here")
    expect(alice.message("still here")).to_have_attribute("data-sequence", "1")
    expect(stream).to_have_count(0)
    expect(alice.page.get_by_test_id("notice").filter(has_text="could not answer")).to_have_count(1)
    assert not [frame for frame in sent[before:] if '"typing"' not in frame]
    assert alice.errors == []


def test_sending_too_fast_is_explained(new_user: NewUser) -> None:
    alice = new_user("Alice")
    alice.sign_in()
    alice.create_chat("Rapid fire")  # the default limit: 10 messages in 10 s
    composer = alice.page.get_by_test_id("composer-input")
    for number in range(1, 12):
        composer.fill(f"message number {number}")
        composer.press("Enter")
    expect(alice.page.get_by_test_id("error-banner")).to_contain_text("Slow down: you can send again in")
    expect(composer).to_be_disabled()
    expect(alice.page.get_by_test_id("composer-hint")).to_contain_text("You can send again in")
    expect(alice.page.get_by_test_id("message")).to_have_count(10)
    expect(alice.page.get_by_test_id("pending-message")).to_have_count(0)
    # the refused text (the posts race, so any one of them) is back in the composer for later
    expect(composer).to_have_value(re.compile(r"^message number \d+$"))
    refused = composer.input_value()
    expect(alice.page.get_by_test_id("message").filter(has_text=re.compile(f"{refused}$"))).to_have_count(0)
    assert alice.errors == []


def test_the_sender_sees_their_message_once_without_its_echo_and_their_other_tab_gets_it(
    new_user: NewUser,
) -> None:
    """Alice's tab names its socket when posting: the server pushes the message to her other tab and to
    Bob, not back to her (issue 15, B1); her tab shows it once, from the POST's answer, in order."""
    alice = new_user("Alice")
    pushed: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "MessageStored":
                pushed.append(str(frame["data"]["message"]["text"]))
            ws.send(message)

        server.on_message(from_server)

    alice.page.route_web_socket(re.compile(r"/ws\?ticket="), route)
    alice.sign_in()
    link = alice.create_chat("No echo")
    laptop = User(alice.name, alice.base, alice.context, alice.context.new_page())
    laptop.page.goto(link)
    laptop.wait_for_chat("No echo")
    expect(laptop.page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    bob = new_user("Bob")
    bob.sign_in()
    bob.join(alice.chat_id)
    bob.wait_for_chat("No echo")
    expect(alice.page.get_by_test_id("notice").filter(has_text="Bob joined")).to_be_visible()

    alice.send("no echo for me")
    expect(alice.message("no echo for me")).to_have_count(1)
    expect(laptop.message("no echo for me")).to_have_count(1)  # her other tab got the push
    expect(bob.message("no echo for me")).to_have_count(1)
    bob.send("but a reply")
    expect(alice.message("but a reply")).to_have_count(1)

    # Then her tab was pushed Bob's message only, counted her own as seen (no gap to fetch), in order
    assert pushed == ["but a reply"]
    assert alice.page.evaluate("window.parley.gapFetches") == 0
    for user in (alice, laptop, bob):
        expect(user.page.get_by_test_id("message")).to_have_count(2)
        assert sequences(user) == ["1", "2"]
    expect(alice.page.get_by_test_id("pending-message")).to_have_count(0)
    assert alice.errors == []
