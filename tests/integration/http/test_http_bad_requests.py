"""Bad input gets a clear 4xx with a JSON error body naming the problem, never a 5xx, and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from parley.domain.model import MAX_MESSAGE_LENGTH
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus

UNKNOWN_CHAT_ID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Raw:
    """A request body sent byte for byte (not JSON-encoded)."""

    text: str


@dataclass(frozen=True)
class Chats:
    chat_id: str
    small_chat_id: str

    def path(self, template: str) -> str:
        return template.format(
            chat_id=self.chat_id, small_chat_id=self.small_chat_id, unknown_chat_id=UNKNOWN_CHAT_ID
        )


def snapshot(api: Api, user: User, *chat_ids: str) -> dict[str, Any]:
    """All a request could have written: the caller's chat list, and each chat with its messages and log."""
    listed = api.get("/chats", user)
    assert listed.status == 200, listed.text
    state: dict[str, Any] = {"my_chats": sorted(c["chat_id"] for c in listed.json["items"])}
    for chat_id in chat_ids:
        chat = api.get(f"/chats/{chat_id}", user)
        messages = api.get(f"/chats/{chat_id}/messages", user, query={"limit": 200})
        events = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200})
        assert (chat.status, messages.status, events.status) == (200, 200, 200)
        state[chat_id] = {"chat": chat.json, "messages": messages.json, "events": events.json}
    return state


def assert_nothing_published(bus: Bus, seen: int) -> None:
    """Only an (unsequenced) MessageRejected may reach the bus for a refused request."""
    published = bus.emitted_types()[seen:]
    assert set(published) <= {"MessageRejected"}, published


@pytest.fixture(scope="module")
def _shared() -> dict[str, Chats]:
    return {}


@pytest.fixture
def chats(api: Api, alice: User, _shared: dict[str, Chats]) -> Chats:
    """Alice's chats the table runs against, made once: no case may change them, and each case checks that."""
    if "chats" not in _shared:
        # Alice owns a default chat (with one message in it) and a chat that accepts at most 10 characters
        chat_id = api.create_chat(alice, title="Main")["chat_id"]
        assert api.send(alice, chat_id, "first", client_message_id="c-1").status == 201
        small_chat_id = api.create_chat(alice, title="Small", settings={"max_message_length": 10})["chat_id"]
        _shared["chats"] = Chats(chat_id, small_chat_id)
    return _shared["chats"]


CHATS = "/chats"
CHAT = "/chats/{chat_id}"
MESSAGES = "/chats/{chat_id}/messages"
SMALL = "/chats/{small_chat_id}/messages"
EVENTS = "/chats/{chat_id}/events"
SETTINGS = "/chats/{chat_id}/settings"
UNKNOWN = "/chats/{unknown_chat_id}"

V = "validation_error"
I = "invalid_request"  # noqa: E741
NOT_FOUND = "chat_not_found"
BAD_JSON = "malformed_json"
JSON_TYPE = "application/json"
CAP = MAX_MESSAGE_LENGTH


def msg(**fields: Any) -> dict[str, Any]:
    """A message body: text "hi" unless given."""
    return {"text": "hi", **fields}


def new_chat(**fields: Any) -> dict[str, Any]:
    """A create-chat body: a free chat titled "New chat" unless given."""
    return {"title": "New chat", "turn_mode": "free", **fields}


def ais(*participants: dict[str, Any]) -> dict[str, Any]:
    """A create-chat body with these AI participants."""
    return new_chat(ai_participants=list(participants))


BOT = {"id": "bot", "name": "Bot"}
ELEVEN_BOTS = [{"id": f"bot-{i}", "name": f"Bot {i}"} for i in range(11)]
AI = "ai_participants"
AI_ID = "ai_participants.0.id"
ML = "max_message_length"

# case id, method, path template, body (JSON value, Raw text, or None for no body), query,
# expected status, expected error code, expected substring of one of error.fields[].field
# fmt: off
CASES: list[tuple[str, str, str, Any, dict[str, Any] | None, int, str, str | None]] = [
    # POST /chats/{chat_id}/messages
    ("message-malformed-json", "POST", MESSAGES, Raw('{"text": "hi"'), None, 400, BAD_JSON, None),
    ("message-not-json", "POST", MESSAGES, Raw("text=hi"), None, 400, BAD_JSON, None),
    ("message-no-body", "POST", MESSAGES, None, None, 422, V, "body"),
    ("message-json-null", "POST", MESSAGES, Raw("null"), None, 422, V, "body"),
    ("message-body-is-a-list", "POST", MESSAGES, ["hi"], None, 422, V, "body"),
    ("message-body-is-a-string", "POST", MESSAGES, "hi", None, 422, V, "body"),
    ("message-missing-text", "POST", MESSAGES, {"client_message_id": "c-2"}, None, 422, V, "text"),
    ("message-unknown-field", "POST", MESSAGES, msg(colour="red"), None, 422, V, "colour"),
    ("message-sender-id-in-body", "POST", MESSAGES, msg(sender_id="user-bob"), None, 422, V, "sender_id"),
    ("message-sequence-in-body", "POST", MESSAGES, msg(sequence=99), None, 422, V, "sequence"),
    ("message-role-in-body", "POST", MESSAGES, msg(role="owner"), None, 422, V, "role"),
    ("message-text-number", "POST", MESSAGES, msg(text=42), None, 422, V, "text"),
    ("message-text-null", "POST", MESSAGES, msg(text=None), None, 422, V, "text"),
    ("message-text-object", "POST", MESSAGES, msg(text={"a": 1}), None, 422, V, "text"),
    ("message-empty-text", "POST", MESSAGES, msg(text=""), None, 422, V, "text"),
    ("message-whitespace-text", "POST", MESSAGES, msg(text=" \n\t  "), None, 422, I, "text"),
    ("message-text-4001", "POST", MESSAGES, msg(text="x" * 4001), None, 422, I, "text"),
    ("message-text-over-hard-cap", "POST", MESSAGES, msg(text="x" * (CAP + 1)), None, 422, V, "text"),
    ("message-text-11-in-10-char-chat", "POST", SMALL, msg(text="x" * 11), None, 422, I, "text"),
    ("message-empty-client-id", "POST", MESSAGES, msg(client_message_id=""), None, 422, V, "client_message"),
    ("message-number-client-id", "POST", MESSAGES, msg(client_message_id=7), None, 422, V, "client_message"),
    ("message-long-client-id", "POST", MESSAGES, msg(client_message_id="c" * 129), None, 422, V, "client"),
    ("message-unknown-chat", "POST", UNKNOWN + "/messages", msg(), None, 404, NOT_FOUND, None),
    # POST /chats
    ("create-malformed-json", "POST", CHATS, Raw('{"title": "x",'), None, 400, BAD_JSON, None),
    ("create-no-body", "POST", CHATS, None, None, 422, V, "body"),
    ("create-missing-title", "POST", CHATS, {"turn_mode": "free"}, None, 422, V, "title"),
    ("create-missing-turn-mode", "POST", CHATS, {"title": "x"}, None, 422, V, "turn_mode"),
    ("create-empty-title", "POST", CHATS, new_chat(title=""), None, 422, V, "title"),
    ("create-blank-title", "POST", CHATS, new_chat(title="  \t "), None, 422, V, "title"),
    ("create-title-number", "POST", CHATS, new_chat(title=5), None, 422, V, "title"),
    ("create-title-too-long", "POST", CHATS, new_chat(title="t" * 201), None, 422, V, "title"),
    ("create-unknown-turn-mode", "POST", CHATS, new_chat(turn_mode="chaos"), None, 422, V, "turn_mode"),
    ("create-turn-mode-null", "POST", CHATS, new_chat(turn_mode=None), None, 422, V, "turn_mode"),
    ("create-owner-id-in-body", "POST", CHATS, new_chat(owner_id="user-bob"), None, 422, V, "owner_id"),
    ("create-created-by-in-body", "POST", CHATS, new_chat(created_by="user-bob"), None, 422, V, "created_by"),
    ("create-ai-bad-id", "POST", CHATS, ais({**BOT, "id": "bad id!"}), None, 422, V, AI_ID),
    ("create-ai-empty-id", "POST", CHATS, ais({**BOT, "id": ""}), None, 422, V, AI_ID),
    ("create-ai-id-too-long", "POST", CHATS, ais({**BOT, "id": "a" * 65}), None, 422, V, AI_ID),
    ("create-ai-missing-name", "POST", CHATS, ais({"id": "bot"}), None, 422, V, AI + ".0.name"),
    ("create-ai-role", "POST", CHATS, ais({**BOT, "role": "owner"}), None, 422, V, AI + ".0.role"),
    ("create-ai-invocation", "POST", CHATS, ais({**BOT, "invocation": "never"}), None, 422, V, "invocation"),
    ("create-ai-duplicate-ids", "POST", CHATS, ais(BOT, {**BOT, "name": "B"}), None, 422, I, AI),
    ("create-ai-id-is-the-creator", "POST", CHATS, ais({**BOT, "id": "user-alice"}), None, 422, I, AI),
    ("create-too-many-ais", "POST", CHATS, ais(*ELEVEN_BOTS), None, 422, V, AI),
    ("create-ais-not-a-list", "POST", CHATS, new_chat(ai_participants=BOT), None, 422, V, AI),
    ("create-settings-length-0", "POST", CHATS, new_chat(settings={ML: 0}), None, 422, V, ML),
    ("create-settings-unknown", "POST", CHATS, new_chat(settings={"members": 3}), None, 422, V, "members"),
    # PATCH /chats/{chat_id}/settings
    ("settings-malformed-json", "PATCH", SETTINGS, Raw("{nope}"), None, 400, BAD_JSON, None),
    ("settings-unknown-field", "PATCH", SETTINGS, {"title": "Renamed"}, None, 422, V, "title"),
    ("settings-length-0", "PATCH", SETTINGS, {ML: 0}, None, 422, V, ML),
    ("settings-length-over-cap", "PATCH", SETTINGS, {ML: CAP + 1}, None, 422, V, ML),
    ("settings-length-type", "PATCH", SETTINGS, {ML: "long"}, None, 422, V, ML),
    ("settings-short-timeout", "PATCH", SETTINGS, {"turn_timeout_seconds": 1}, None, 422, V, "turn_timeout"),
    ("settings-unknown-turn-mode", "PATCH", SETTINGS, {"turn_mode": "chaos"}, None, 422, V, "turn_mode"),
    ("settings-unknown-chat", "PATCH", UNKNOWN + "/settings", {ML: 5}, None, 404, NOT_FOUND, None),
    # GET /chats/{chat_id}/messages
    ("messages-limit-0", "GET", MESSAGES, None, {"limit": 0}, 422, V, "limit"),
    ("messages-limit-201", "GET", MESSAGES, None, {"limit": 201}, 422, V, "limit"),
    ("messages-limit-abc", "GET", MESSAGES, None, {"limit": "abc"}, 422, V, "limit"),
    ("messages-after--1", "GET", MESSAGES, None, {"after": -1}, 422, V, "after"),
    ("messages-after-abc", "GET", MESSAGES, None, {"after": "abc"}, 422, V, "after"),
    ("messages-after-1.5", "GET", MESSAGES, None, {"after": "1.5"}, 422, V, "after"),
    ("messages-before--1", "GET", MESSAGES, None, {"before": -1}, 422, V, "before"),
    ("messages-before-abc", "GET", MESSAGES, None, {"before": "abc"}, 422, V, "before"),
    ("messages-unknown-chat", "GET", UNKNOWN + "/messages", None, None, 404, NOT_FOUND, None),
    # GET /chats/{chat_id}/events
    ("events-limit-0", "GET", EVENTS, None, {"limit": 0}, 422, V, "limit"),
    ("events-limit-201", "GET", EVENTS, None, {"limit": 201}, 422, V, "limit"),
    ("events-after--1", "GET", EVENTS, None, {"after": -1}, 422, V, "after"),
    ("events-after-abc", "GET", EVENTS, None, {"after": "abc"}, 422, V, "after"),
    ("events-unknown-chat", "GET", UNKNOWN + "/events", None, None, 404, NOT_FOUND, None),
    # the other chat routes, on a chat that does not exist, and a route that does not exist
    ("get-unknown-chat", "GET", UNKNOWN, None, None, 404, NOT_FOUND, None),
    ("join-unknown-chat", "POST", UNKNOWN + "/members", None, None, 404, NOT_FOUND, None),
    ("leave-unknown-chat", "DELETE", UNKNOWN + "/members/me", None, None, 404, NOT_FOUND, None),
    ("complete-unknown-chat", "POST", UNKNOWN + "/complete", None, None, 404, NOT_FOUND, None),
    ("unknown-route", "GET", CHAT + "/attachments", None, None, 404, "route_not_found", None),
    # ids and days in the path and query have the shape the document gives them
    ("chat-id-not-a-uuid", "GET", "/chats/nope", None, None, 422, V, "chat_id"),
    ("chat-id-too-long", "GET", "/chats/" + "a" * 3000 + "/messages", None, None, 422, V, "chat_id"),
    ("extension-id-bad", "GET", CHAT + "/extensions/Bad%20Id", None, None, 422, V, "extension_id"),
    ("sequence-over-2-53", "GET", MESSAGES, None, {"after": 2**53}, 422, V, "after"),
    ("summary-to-a-number", "GET", "/analytics/summary", None, {"to": "0"}, 422, V, "to"),
    ("summary-from-not-a-day", "GET", "/analytics/summary", None, {"from": "2026-1-1"}, 422, V, "from"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "payload", "query", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_request_is_refused_clearly_and_writes_nothing(
    api: Api,
    bus: Bus,
    alice: User,
    chats: Chats,
    method: str,
    path: str,
    payload: Any,
    query: dict[str, Any] | None,
    status: int,
    code: str,
    field: str | None,
) -> None:
    # Given Alice's chats, and what the targeted one holds before the request
    target = chats.small_chat_id if "{small_chat_id}" in path else chats.chat_id
    before = snapshot(api, alice, target)
    seen = len(bus.emitted())
    body = {"raw_body": payload.text} if isinstance(payload, Raw) else {"body": payload}

    # When Alice sends the bad request
    response = api.call(method, chats.path(path), alice, query=query, **body)

    # Then it is refused with a clear 4xx naming the problem
    assert_error(response, status, code, field)

    # And nothing was written (no new chat; no message, member, setting or log entry), nor published
    assert snapshot(api, alice, target) == before
    assert_nothing_published(bus, seen)


def test_texts_at_the_limit_are_accepted(api: Api, alice: User) -> None:
    # Given a default chat (4000 characters) and a chat limited to 10 characters
    default_chat = api.create_chat(alice)["chat_id"]
    small_chat = api.create_chat(alice, settings={"max_message_length": 10})["chat_id"]

    # When Alice posts exactly the limit to each
    default = api.send(alice, default_chat, "x" * 4000)
    small = api.send(alice, small_chat, "y" * 10)

    # Then both are stored
    assert default.status == 201, default.text
    assert small.status == 201, small.text
    assert default.json["text"] == "x" * 4000
    assert small.json["text"] == "y" * 10


def test_a_user_over_the_rate_limit_gets_429_with_retry_after(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat with the default rate limit (10 messages in 10 s) where Alice has just posted 10 times
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    for i in range(10):
        assert api.send(alice, chat_id, f"message {i}").status == 201
    before = snapshot(api, alice, chat_id)
    seen = len(bus.emitted())

    # When she posts an eleventh
    response = api.send(alice, chat_id, "one too many", client_message_id="c-11")

    # Then she is told to slow down, and for how long (whole seconds, at least 1, at most the window)
    assert_error(response, 429, "rate_limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 10

    # And nothing was written
    assert snapshot(api, alice, chat_id) == before
    assert_nothing_published(bus, seen)

    # And the limit is hers alone: Bob may still post
    assert api.send(bob, chat_id, "my turn to talk").status == 201


def test_the_rate_limit_follows_the_chat_settings(api: Api, alice: User) -> None:
    # Given a chat that allows 2 messages a minute, and Alice has posted 2
    chat_id = api.create_chat(alice, settings={"rate_limit_messages": 2, "rate_limit_window_seconds": 60})[
        "chat_id"
    ]
    assert api.send(alice, chat_id, "one").status == 201
    assert api.send(alice, chat_id, "two").status == 201

    # When she posts a third
    response = api.send(alice, chat_id, "three")

    # Then she must wait, within the chat's window
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert [m["text"] for m in api.get(f"/chats/{chat_id}/messages", alice).json["items"]] == ["one", "two"]


def test_leaving_and_rejoining_does_not_reset_the_rate_limit(api: Api, alice: User, bob: User) -> None:
    # Given Bob has used up his 10 messages in a chat
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    for i in range(10):
        assert api.send(bob, chat_id, f"spam {i}").status == 201
    assert api.send(bob, chat_id, "spam 10").status == 429

    # When he leaves and joins again at once
    assert api.delete(f"/chats/{chat_id}/members/me", bob).status == 204
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    response = api.send(bob, chat_id, "spam 11")

    # Then he is still over the limit
    assert_error(response, 429, "rate_limited")


@pytest.mark.parametrize("char", ["😀", "\u0000"], ids=["4-byte-utf8", "json-escaped-control"])
def test_the_longest_text_of_the_widest_characters_is_stored_and_published(
    api: Api, bus: Bus, alice: User, char: str
) -> None:
    # Given a chat whose owner allowed the longest messages there are
    chat_id = api.create_chat(alice, settings={"max_message_length": MAX_MESSAGE_LENGTH})["chat_id"]
    seen = len(bus.emitted())

    # When Alice posts that many of the characters that take the most bytes to store and to publish
    response = api.send(alice, chat_id, char * MAX_MESSAGE_LENGTH)

    # Then it is stored whole (never a 5xx for text within the limit), and announced on the bus
    assert response.status == 201, response.text[:500]
    stored = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
    assert [m["text"] == char * MAX_MESSAGE_LENGTH for m in stored] == [True]
    published = [
        e
        for e in bus.emitted()[seen:]
        if e["detail-type"] == "MessageStored" and e["detail"]["metadata"]["chat_id"] == chat_id
    ]
    assert len(published) == 1
    assert published[0]["detail"]["data"]["message"]["text"] == char * MAX_MESSAGE_LENGTH


def test_posting_to_a_completed_chat_gives_409(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a chat of Alice and Bob that Alice has completed
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    assert api.send(bob, chat_id, "before the end").status == 201
    assert api.post(f"/chats/{chat_id}/complete", alice).status == 200
    before = snapshot(api, alice, chat_id)
    seen = len(bus.emitted())

    # When each of them posts
    by_owner = api.send(alice, chat_id, "one more thing", client_message_id="late-1")
    by_member = api.send(bob, chat_id, "wait")

    # Then both are refused as completed, and nothing was written
    assert_error(by_owner, 409, "chat_completed")
    assert_error(by_member, 409, "chat_completed")
    assert snapshot(api, alice, chat_id) == before
    assert_nothing_published(bus, seen)


def test_posting_out_of_turn_in_a_round_robin_chat_gives_409(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a round-robin chat of Alice and Bob where Alice holds the floor
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    assert api.get(f"/chats/{chat_id}", bob).json["turn"]["holder_id"] == alice.user_id
    before = snapshot(api, alice, chat_id)
    seen = len(bus.emitted())

    # When Bob posts
    response = api.send(bob, chat_id, "me first", client_message_id="b-1")

    # Then he is told it is not his turn, and whose it is
    error = assert_error(response, 409, "not_your_turn")
    assert error["details"]["turn_holder_id"] == alice.user_id

    # And nothing was written (the refusal is only announced, unsequenced)
    assert snapshot(api, alice, chat_id) == before
    assert_nothing_published(bus, seen)

    # And the client_message_id was not used up: once it is his turn, the same key stores his message
    assert api.send(alice, chat_id, "go ahead").status == 201
    bus.pump()
    retried = api.send(bob, chat_id, "me first", client_message_id="b-1")
    assert retried.status == 201, retried.text
    assert "idempotent-replayed" not in retried.headers


MAX_BODY = 1024 * 1024  # the API's documented body limit (README, HTTP API)
TOO_DEEP = "[" * 5000 + "]" * 5000
INSTALL = "/chats/{chat_id}/extensions/welcome"


def deep_config(levels: int) -> str:
    """An install body whose config nests ``levels`` levels below the body itself."""
    return '{"config": ' + '{"a": ' * (levels - 1) + "1" + "}" * (levels - 1) + "}"


# case id, method, path template, raw body, content type, anonymous?, expected status, error code, Allow
# fmt: off
EDGE_CASES: list[tuple[str, str, str, bytes | None, str | None, bool, int, str, str | None]] = [
    ("text-plain-create", "POST", CHATS, b'{"title": "x", "turn_mode": "free"}', "text/plain", False, 415,
     "unsupported_media_type", None),
    ("text-plain-message", "POST", MESSAGES, b'{"text": "hi"}', "text/plain", False, 415,
     "unsupported_media_type", None),
    ("text-plain-settings", "PATCH", SETTINGS, b"{}", "text/plain; charset=utf-8", False, 415,
     "unsupported_media_type", None),
    ("text-plain-install", "PUT", INSTALL, b"{}", "text/plain", False, 415, "unsupported_media_type", None),
    ("multipart-no-boundary", "POST", MESSAGES, b"text=hi", "multipart/form-data", False, 415,
     "unsupported_media_type", None),
    ("multipart-with-boundary", "POST", MESSAGES,
     b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--b--',
     "multipart/form-data; boundary=b", False, 415, "unsupported_media_type", None),
    ("form-urlencoded", "POST", MESSAGES, b"text=hi", "application/x-www-form-urlencoded", False, 415,
     "unsupported_media_type", None),
    ("not-utf8", "POST", MESSAGES, b"\xa1\xad", JSON_TYPE, False, 400, BAD_JSON, None),
    ("not-utf8-in-a-string", "POST", MESSAGES, b'{"text": "\xff\xfe"}', JSON_TYPE, False, 400, BAD_JSON,
     None),
    ("nested-5000-deep", "POST", CHATS, TOO_DEEP.encode(), JSON_TYPE, False, 400, BAD_JSON, None),
    ("nested-deeper-than-dynamodb", "PUT", INSTALL, deep_config(33).encode(), JSON_TYPE, False, 400, BAD_JSON,
     None),
    ("over-the-body-limit", "POST", MESSAGES, b'{"text": "' + b"x" * MAX_BODY + b'"}', JSON_TYPE, False, 413,
     "payload_too_large", None),
    ("trace-health", "TRACE", "/health", None, None, False, 405, "method_not_allowed", "GET"),
    ("put-chats", "PUT", CHATS, b"{}", JSON_TYPE, False, 405, "method_not_allowed", "GET, POST"),
    ("delete-chat", "DELETE", CHAT, None, None, False, 405, "method_not_allowed", "GET"),
    ("get-members", "GET", "/chats/{chat_id}/members", None, None, False, 405, "method_not_allowed", "POST"),
    ("options-messages", "OPTIONS", MESSAGES, None, None, False, 405, "method_not_allowed", "GET, POST"),
    # who is calling is checked first, as API Gateway's authorizer does; public paths need no one
    ("anonymous-text-plain", "POST", MESSAGES, b"hi", "text/plain", True, 401, "not_authenticated", None),
    ("anonymous-not-utf8", "POST", MESSAGES, b"\xa1\xad", JSON_TYPE, True, 401, "not_authenticated", None),
    ("anonymous-too-deep", "POST", CHATS, TOO_DEEP.encode(), JSON_TYPE, True, 401, "not_authenticated", None),
    ("anonymous-too-large", "POST", CHATS, b"[" + b" " * MAX_BODY + b"]", JSON_TYPE, True, 401,
     "not_authenticated", None),
    ("anonymous-trace-chats", "TRACE", CHATS, None, None, True, 401, "not_authenticated", None),
    ("anonymous-trace-health", "TRACE", "/health", None, None, True, 405, "method_not_allowed", "GET"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "payload", "content_type", "anonymous", "status", "code", "allow"),
    [pytest.param(*case[1:], id=case[0]) for case in EDGE_CASES],
)
def test_a_body_or_method_no_route_takes_gets_its_own_4xx_and_writes_nothing(
    api: Api,
    bus: Bus,
    alice: User,
    chats: Chats,
    method: str,
    path: str,
    payload: bytes | None,
    content_type: str | None,
    anonymous: bool,
    status: int,
    code: str,
    allow: str | None,
) -> None:
    # Given Alice's chat and what it holds
    before = snapshot(api, alice, chats.chat_id)
    seen = len(bus.emitted())
    headers = {"content-type": content_type} if content_type else {}

    # When a body in another media type, not UTF-8, too deep or too large, or an undeclared method arrives
    response = api.call(
        method, chats.path(path), None if anonymous else alice, raw_body=payload, headers=headers
    )

    # Then it is refused with its own 4xx in the error shape (never a 500), naming the allowed methods
    assert_error(response, status, code)
    assert response.headers.get("allow") == allow

    # And nothing was written or published
    assert snapshot(api, alice, chats.chat_id) == before
    assert_nothing_published(bus, seen)


def test_json_with_parameters_and_a_body_at_the_limit_are_accepted(api: Api, alice: User) -> None:
    # Given a chat that takes the longest messages, and a body of exactly the API's limit
    chat_id = api.create_chat(alice, settings={"max_message_length": MAX_MESSAGE_LENGTH})["chat_id"]
    body = '{"text": "' + "x" * MAX_MESSAGE_LENGTH + '"}'
    padded = body + " " * (MAX_BODY - len(body))

    # When Alice posts it as JSON with a charset parameter
    response = api.call(
        "POST",
        f"/chats/{chat_id}/messages",
        alice,
        raw_body=padded,
        headers={"content-type": "application/json; charset=utf-8"},
    )

    # Then it is stored
    assert response.status == 201, response.text[:300]
    assert len(padded) == MAX_BODY


def test_a_cors_preflight_on_a_known_path_gets_an_empty_204_without_a_token(api: Api) -> None:
    # Given a browser's preflight (no token, as browsers send it) for a POST to a chat's messages
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}

    # When it reaches the api (in AWS through the OPTIONS route CORS adds ahead of $default)
    response = api.call("OPTIONS", "/chats/c-1/messages", None, headers=preflight)
    unknown = api.call("OPTIONS", "/nowhere", None, headers=preflight)

    # Then it gets an empty 204 (API Gateway adds its CORS headers); an unknown path is still a 404
    assert (response.status, response.text) == (204, "")
    assert response.headers.get("allow") == "GET, POST"
    assert_error(unknown, 404, "route_not_found")
