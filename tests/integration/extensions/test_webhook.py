"""The webhook extension on moto, delivering to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from parley import root
from parley.extensions.builtin import webhook
from parley.extensions.builtin.webhook import Retry, verify
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus

SECRET = "whsec-0123456789abcdef"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def detail(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A webhook receiver: answers each POST with the next scripted status (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/parley/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on the local stack: http to this machine allowed; short backoff so tests stay quick."""
    monkeypatch.setenv("PARLEY_WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setattr(webhook, "RETRY", Retry(attempts=3, timeout_seconds=2.0, backoff_seconds=0.01))
    root.reset()


def install(api: Api, user: User, chat_id: str, **config: Any) -> dict[str, Any]:
    response = api.put(f"/chats/{chat_id}/extensions/webhook", user, body={"enabled": True, "config": config})
    assert response.status in (200, 201), response.text
    body: dict[str, Any] = response.json
    return body


def of_type(bus: Bus, detail_type: str, chat_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in bus.emitted()
        if e["detail-type"] == detail_type and e["detail"]["metadata"]["chat_id"] == chat_id
    ]


@pytest.mark.usefixtures("local_delivery")
def test_a_chat_event_reaches_the_receiver_signed_even_after_a_500(
    api: Api, bus: Bus, alice: User, receiver: Receiver
) -> None:
    # Given a chat forwarding MessageStored to a receiver whose first answer is a 500
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, url=receiver.url, secret=SECRET, events=["MessageStored"])
    receiver.statuses = [500]

    # When Alice posts and the bus settles
    api.send(alice, chat_id, "hello hooks")
    bus.pump()

    # Then the receiver got the event twice (the retry after the 500), each signed and verifiable
    [stored] = of_type(bus, "MessageStored", chat_id)
    assert len(receiver.received) == 2
    for delivery in receiver.received:
        assert verify(SECRET, delivery.headers["x-parley-signature"], delivery.body, tolerance=60)
        assert delivery.headers["x-parley-event-id"] == stored["detail"]["metadata"]["event_id"]
        assert delivery.headers["x-parley-event-type"] == "MessageStored"
        assert delivery.headers["content-type"] == "application/json"
        # and the body is the event's detail, as on the bus
        assert delivery.detail == stored["detail"]
    assert not verify("not-the-secret-at-all", receiver.received[1].headers["x-parley-signature"], b"{}")
    # and the delivery counted as a success: no failure reported
    assert of_type(bus, "ExtensionFailed", chat_id) == []


@pytest.mark.usefixtures("local_delivery")
def test_only_the_chosen_events_are_forwarded_including_other_extensions_events(
    api: Api, bus: Bus, alice: User, bob: User, receiver: Receiver
) -> None:
    # Given a chat with sentiment, and a webhook forwarding joins and sentiment scores only
    chat_id = api.create_chat(alice)["chat_id"]
    api.put(f"/chats/{chat_id}/extensions/sentiment", alice, body={"enabled": True, "config": {}})
    install(api, alice, chat_id, url=receiver.url, secret=SECRET, events=["UserJoined", "sentiment.scored"])

    # When Bob joins and posts
    api.post(f"/chats/{chat_id}/members", bob)
    api.send(bob, chat_id, "This is great, thanks!")
    bus.pump()

    # Then the receiver got the join and the score, not the message itself
    assert sorted(r.headers["x-parley-event-type"] for r in receiver.received) == [
        "UserJoined",
        "sentiment.scored",
    ]
    [scored] = [r for r in receiver.received if r.headers["x-parley-event-type"] == "sentiment.scored"]
    assert scored.detail["data"]["payload"]["label"] == "positive"
    assert scored.detail["metadata"]["actor"]["id"] == "sentiment"
    assert all(verify(SECRET, r.headers["x-parley-signature"], r.body) for r in receiver.received)


@pytest.mark.usefixtures("local_delivery")
def test_the_secret_is_never_shown_and_a_redacted_put_keeps_it(
    api: Api, bus: Bus, alice: User, bob: User, receiver: Receiver
) -> None:
    # Given a chat Bob joined, where Alice installs the webhook with a secret
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    path = f"/chats/{chat_id}/extensions/webhook"
    created = install(api, alice, chat_id, url=receiver.url, secret=SECRET, events=["MessageStored"])

    # Then neither the PUT's answer, nor the install or the list a member reads, shows it
    assert created["config"] == {"url": receiver.url, "secret": "********", "events": ["MessageStored"]}
    assert api.get(path, bob).json["config"]["secret"] == "********"
    listed = api.get(f"/chats/{chat_id}/extensions", bob).json["items"]
    assert [i["config"]["secret"] for i in listed if i["extension_id"] == "webhook"] == ["********"]

    # When Alice changes the events and sends the secret back as she read it
    changed = api.put(
        path,
        alice,
        body={"enabled": True, "config": created["config"] | {"events": ["MessageStored", "UserLeft"]}},
    )
    assert changed.status == 200, changed.text
    assert changed.json["config"]["secret"] == "********"

    # Then deliveries are still signed with the original secret
    api.send(bob, chat_id, "still signed?")
    bus.pump()
    [delivery] = receiver.received
    assert verify(SECRET, delivery.headers["x-parley-signature"], delivery.body)

    # and the chat's event log (members read it) and the bus carry the config only redacted
    log = api.get(f"/chats/{chat_id}/events", bob)
    assert log.status == 200
    assert SECRET not in log.text
    configs = [
        i["data"]["config"]
        for i in log.json["items"]
        if i["event_type"] in ("ExtensionInstalled", "ExtensionConfigChanged")
        and i["data"]["extension_id"] == "webhook"
    ]
    assert [c["secret"] for c in configs] == ["********", "********"]
    assert SECRET not in json.dumps(bus.emitted())


def test_a_redacted_secret_with_none_stored_is_refused(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    response = api.put(
        f"/chats/{chat_id}/extensions/webhook",
        alice,
        body={"enabled": True, "config": {"url": "https://example.com/h", "secret": "********"}},
    )
    error = assert_error(response, 422, "invalid_config")
    assert [f["field"] for f in error["fields"]] == ["config.secret"]
    assert_error(api.get(f"/chats/{chat_id}/extensions/webhook", alice), 404, "extension_not_found")


def test_a_short_secret_or_a_bad_url_is_refused_with_422(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    response = api.put(
        f"/chats/{chat_id}/extensions/webhook",
        alice,
        body={"enabled": True, "config": {"url": "hooks.example.com", "secret": "short", "events": ["Nope"]}},
    )
    error = assert_error(response, 422, "invalid_config")
    assert {f["field"] for f in error["fields"]} == {"config.url", "config.secret", "config.events.0"}


@pytest.mark.usefixtures("local_delivery")
def test_a_receiver_that_keeps_failing_reports_a_failure_to_the_circuit_breaker(
    api: Api, bus: Bus, alice: User, receiver: Receiver
) -> None:
    # Given a receiver answering 500 to everything
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, url=receiver.url, secret=SECRET, events=["MessageStored"])
    receiver.statuses = [500] * 10

    # When Alice posts
    assert api.send(alice, chat_id, "into the void").status == 201
    bus.pump()

    # Then the handler tried three times, then failed: one failure counts towards the circuit
    assert len(receiver.received) == 3
    [failed] = of_type(bus, "ExtensionFailed", chat_id)
    assert failed["detail"]["data"]["error"] == "DeliveryError: 127.0.0.1 answered 500 (attempt 3 of 3)"
    assert api.get(f"/chats/{chat_id}/extensions/webhook", alice).json["consecutive_failures"] == 1


def test_without_the_setting_plain_http_is_not_delivered(
    api: Api, bus: Bus, alice: User, receiver: Receiver
) -> None:
    # Given the AWS default (PARLEY_WEBHOOK_ALLOW_HTTP unset) and an http:// URL
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, url=receiver.url, secret=SECRET, events=["MessageStored"])

    # When Alice posts
    api.send(alice, chat_id, "over http?")
    bus.pump()

    # Then nothing was sent, and the failure says why
    assert receiver.received == []
    [failed] = of_type(bus, "ExtensionFailed", chat_id)
    assert "must use https" in failed["detail"]["data"]["error"]
