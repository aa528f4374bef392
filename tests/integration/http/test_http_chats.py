"""The HTTP API's happy paths on moto: chats, membership, messages, the event log, settings, and the docs."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, User
from tests.support.bus import Bus

DEFAULT_SETTINGS = {
    "max_message_length": 4000,
    "rate_limit_messages": 10,
    "rate_limit_window_seconds": 10,
    "turn_timeout_seconds": 120,
    "hook_fallback": "allow",
    "extension_messages_per_minute": 30,
    "extension_messages_per_minute_total": 60,
}

CONTRACT: dict[str, set[str]] = {
    "/chats": {"get", "post"},
    "/chats/{chat_id}": {"get"},
    "/chats/{chat_id}/members": {"post"},
    "/chats/{chat_id}/members/me": {"delete"},
    "/chats/{chat_id}/messages": {"get", "post"},
    "/chats/{chat_id}/events": {"get"},
    "/chats/{chat_id}/settings": {"patch"},
    "/chats/{chat_id}/complete": {"post"},
    "/health": {"get"},
    "/extensions": {"get"},
    "/chats/{chat_id}/extensions": {"get"},
    "/chats/{chat_id}/extensions/{extension_id}": {"get", "put", "delete"},
}


def events(api: Api, user: User, chat_id: str, **query: Any) -> list[dict[str, Any]]:
    response = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200, **query})
    assert response.status == 200, response.text
    items: list[dict[str, Any]] = response.json["items"]
    return items


def event_types(api: Api, user: User, chat_id: str) -> list[str]:
    return [e["event_type"] for e in events(api, user, chat_id)]


def messages(api: Api, user: User, chat_id: str, **query: Any) -> tuple[list[int], str | None]:
    response = api.get(f"/chats/{chat_id}/messages", user, query=query)
    assert response.status == 200, response.text
    return [m["sequence"] for m in response.json["items"]], response.json["next"]


def my_chat_ids(api: Api, user: User) -> set[str]:
    response = api.get("/chats", user)
    assert response.status == 200, response.text
    return {c["chat_id"] for c in response.json["items"]}


def test_create_a_chat_with_ai_participants_and_settings(api: Api, alice: User) -> None:
    # Given a title, a turn mode, two AI participants and some settings
    body = {
        "title": "  Planning  ",
        "turn_mode": "free",
        "ai_participants": [
            {
                "id": "oracle",
                "name": "Oracle",
                "persona": "You answer in riddles.",
                "provider": "local",
                "model": "m-1",
                "invocation": "on_mention",
            },
            {"id": "scribe", "name": "Scribe"},
        ],
        "settings": {"max_message_length": 280, "rate_limit_messages": 5},
    }

    # When Alice creates the chat
    created = api.post("/chats", alice, body=body)

    # Then it exists, with Alice as its owner and the AIs as members, and the settings filled in
    assert created.status == 201, created.text
    chat = created.json
    assert chat["chat_id"]
    assert (chat["title"], chat["status"], chat["turn_mode"]) == ("Planning", "active", "free")
    assert chat["created_by"] == alice.user_id
    assert chat["settings"] == {**DEFAULT_SETTINGS, "max_message_length": 280, "rate_limit_messages": 5}
    people = [(p["id"], p["name"], p["kind"], p["role"]) for p in chat["participants"]]
    assert people == [
        (alice.user_id, alice.name, "human", "owner"),
        ("oracle", "Oracle", "ai", "member"),
        ("scribe", "Scribe", "ai", "member"),
    ]
    assert chat["participants"][0]["ai"] is None
    assert chat["participants"][1]["ai"] == {
        "persona": "You answer in riddles.",
        "provider": "local",
        "model": "m-1",
        "invocation": "on_mention",
    }
    assert chat["participants"][2]["ai"]["provider"] == "local"
    assert chat["turn"]["holder_id"] is None
    assert (chat["last_sequence"], chat["last_event_sequence"]) == (0, 6)

    # And reading it back gives the same chat, and the log tells how it came about
    assert api.get(f"/chats/{chat['chat_id']}", alice).json == chat
    log = events(api, alice, chat["chat_id"])
    assert [e["event_type"] for e in log] == [
        "ChatCreated",
        "UserJoined",
        "UserJoined",
        "UserJoined",
        "ExtensionInstalled",  # analytics, installed on every new chat
        "ExtensionActivated",
    ]
    assert log[0]["data"]["title"] == "Planning"
    assert log[0]["data"]["settings"] == chat["settings"]
    assert [e["data"]["participant"]["id"] for e in log[1:4]] == [alice.user_id, "oracle", "scribe"]


def test_get_a_round_robin_chat_shows_participants_and_the_turn(api: Api, alice: User, bob: User) -> None:
    # Given a round-robin chat that Bob joined
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200

    # When Bob reads it
    response = api.get(f"/chats/{chat_id}", bob)

    # Then he sees both members and that Alice, the first to join, holds the first turn
    assert response.status == 200, response.text
    chat = response.json
    assert [(p["id"], p["role"]) for p in chat["participants"]] == [
        (alice.user_id, "owner"),
        (bob.user_id, "member"),
    ]
    assert chat["turn"]["holder_id"] == alice.user_id
    assert chat["turn"]["turn_number"] == 1
    assert chat["turn"]["since"] is not None
    assert "TurnChanged" in event_types(api, alice, chat_id)


def test_list_my_chats(api: Api, alice: User, bob: User) -> None:
    # Given two chats of Alice and one of Bob
    first = api.create_chat(alice, title="Alice one")["chat_id"]
    second = api.create_chat(alice, title="Alice two")["chat_id"]
    bobs = api.create_chat(bob, title="Bob's")["chat_id"]

    # When each lists their chats
    listed = api.get("/chats", alice)

    # Then each sees their own chats, in full, and not the other's
    assert listed.status == 200, listed.text
    by_id = {c["chat_id"]: c for c in listed.json["items"]}
    assert {first, second} <= set(by_id)
    assert bobs not in by_id
    assert by_id[first]["title"] == "Alice one"
    assert by_id[second]["participants"][0]["id"] == alice.user_id
    assert bobs in my_chat_ids(api, bob)
    assert first not in my_chat_ids(api, bob)

    # And a chat joins Bob's list when he joins it, and leaves it when he leaves
    assert api.post(f"/chats/{first}/members", bob).status == 200
    assert first in my_chat_ids(api, bob)
    assert api.delete(f"/chats/{first}/members/me", bob).status == 204
    assert first not in my_chat_ids(api, bob)


def test_joining_twice_is_harmless(api: Api, alice: User, bob: User) -> None:
    # Given Alice's chat
    chat_id = api.create_chat(alice)["chat_id"]

    # When Bob joins twice
    first = api.post(f"/chats/{chat_id}/members", bob)
    second = api.post(f"/chats/{chat_id}/members", bob)

    # Then both succeed with the same chat, where Bob is a member once
    assert (first.status, second.status) == (200, 200), (first.text, second.text)
    assert second.json == first.json
    assert [p["id"] for p in second.json["participants"]] == [alice.user_id, bob.user_id]
    assert second.json["participants"][1]["role"] == "member"

    # And one UserJoined announces him
    joined = [e for e in events(api, alice, chat_id) if e["event_type"] == "UserJoined"]
    assert [e["data"]["participant"]["id"] for e in joined] == [alice.user_id, bob.user_id]


def test_leave_a_chat(api: Api, alice: User, bob: User) -> None:
    # Given Bob, a member of Alice's chat
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200

    # When he leaves
    response = api.delete(f"/chats/{chat_id}/members/me", bob)

    # Then he is gone, and a UserLeft says so
    assert response.status == 204, response.text
    assert response.text == ""
    chat = api.get(f"/chats/{chat_id}", alice).json
    assert [p["id"] for p in chat["participants"]] == [alice.user_id]
    log = events(api, alice, chat_id)
    assert log[-1]["event_type"] == "UserLeft"
    assert log[-1]["data"]["participant_id"] == bob.user_id
    assert chat_id not in my_chat_ids(api, bob)


def test_post_a_message_and_replay_it_with_the_same_client_message_id(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given a chat of Alice and Bob
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200

    # When Alice posts with a client_message_id
    first = api.send(alice, chat_id, "hello", client_message_id="c-1")

    # Then the message is stored with the sender from her token and the chat's next sequence
    assert first.status == 201, first.text
    message = first.json
    assert message["message_id"]
    assert (message["chat_id"], message["sequence"], message["text"]) == (chat_id, 1, "hello")
    assert (message["sender_id"], message["sender_name"], message["sender_kind"]) == (
        alice.user_id,
        alice.name,
        "human",
    )
    assert message["client_message_id"] == "c-1"
    assert "idempotent-replayed" not in first.headers
    # and the answer carries the message's MessageStored frame (for a socket that skips its push)
    frame = message.pop("frame")
    assert (frame["type"], frame["chat_id"], frame["data"]["message"]) == ("MessageStored", chat_id, message)

    # When she retries with the same client_message_id (the same body, then even a different text)
    replay = api.send(alice, chat_id, "hello", client_message_id="c-1")
    altered = api.send(alice, chat_id, "hello again", client_message_id="c-1")

    # Then she gets the first message back, marked as a replay
    for again in (replay, altered):
        assert again.status == 201, again.text
        assert again.json == {**message, "frame": None}
        assert again.headers.get("idempotent-replayed") == "true"

    # And only one message was stored, logged and published
    assert messages(api, alice, chat_id) == ([1], None)
    assert event_types(api, alice, chat_id).count("MessageStored") == 1
    published = [
        e
        for e in bus.emitted()
        if e["detail-type"] == "MessageStored" and e["detail"]["metadata"]["chat_id"] == chat_id
    ]
    assert len(published) == 1

    # And the key is Alice's own: Bob's message with the same client_message_id is a new message
    bobs = api.send(bob, chat_id, "hi", client_message_id="c-1")
    assert bobs.status == 201, bobs.text
    assert (bobs.json["sequence"], bobs.json["sender_id"]) == (2, bob.user_id)
    assert "idempotent-replayed" not in bobs.headers


def test_messages_come_in_sequence_order_page_by_page(api: Api, alice: User) -> None:
    # Given a chat with seven messages
    chat_id = api.create_chat(alice)["chat_id"]
    for i in range(1, 8):
        assert api.send(alice, chat_id, f"message {i}").status == 201

    # When Alice pages through them three at a time, following `next`
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        items, cursor = messages(api, alice, chat_id, limit=3, after=cursor)
        pages.append(items)
        if cursor is None:
            break

    # Then she gets every message once, in order, and `next` is null on the last page
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    full = api.get(f"/chats/{chat_id}/messages", alice).json
    assert [m["text"] for m in full["items"]] == [f"message {i}" for i in range(1, 8)]
    assert full["next"] is None

    # And after/before/limit select the window strictly between them
    assert messages(api, alice, chat_id, after=2, before=6) == ([3, 4, 5], None)
    assert messages(api, alice, chat_id, before=5, limit=2) == ([1, 2], "2")
    assert messages(api, alice, chat_id, after=4, limit=3) == ([5, 6, 7], None)
    assert messages(api, alice, chat_id, limit=7) == ([1, 2, 3, 4, 5, 6, 7], None)
    assert messages(api, alice, chat_id, after=7) == ([], None)
    assert messages(api, alice, chat_id, before=1) == ([], None)


def test_the_event_log_numbers_every_change_without_gaps(
    api: Api, alice: User, bob: User, carol: User
) -> None:
    # Given a chat with an AI participant that Bob and Carol joined, where Alice and Bob posted and Carol left
    chat_id = api.create_chat(alice, ai_participants=[{"id": "oracle", "name": "Oracle"}])["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    assert api.post(f"/chats/{chat_id}/members", carol).status == 200
    assert api.send(alice, chat_id, "hello").status == 201
    assert api.send(bob, chat_id, "hi").status == 201
    assert api.delete(f"/chats/{chat_id}/members/me", carol).status == 204

    # When Alice reads the log
    log = events(api, alice, chat_id)

    # Then it lists every change in order, numbered 1..n without gaps
    assert [(e["sequence"], e["event_type"]) for e in log] == [
        (1, "ChatCreated"),
        (2, "UserJoined"),
        (3, "UserJoined"),
        (4, "ExtensionInstalled"),  # analytics, installed on every new chat
        (5, "ExtensionActivated"),
        (6, "UserJoined"),
        (7, "UserJoined"),
        (8, "MessageStored"),
        (9, "MessageStored"),
        (10, "UserLeft"),
    ]
    assert [e["data"]["participant"]["id"] for e in log[1:3] + log[5:7]] == [
        alice.user_id,
        "oracle",
        bob.user_id,
        carol.user_id,
    ]
    assert [e["data"]["message"]["sequence"] for e in log[7:9]] == [1, 2]
    assert all(e["metadata"]["chat_id"] == chat_id for e in log)
    assert len({e["event_id"] for e in log}) == len(log)
    chat = api.get(f"/chats/{chat_id}", alice).json
    assert (chat["last_event_sequence"], chat["last_sequence"]) == (10, 2)

    # And paging with after/limit and `next` gives the same log
    paged: list[int] = []
    cursor: str | None = None
    while True:
        response = api.get(f"/chats/{chat_id}/events", alice, query={"limit": 3, "after": cursor})
        assert response.status == 200, response.text
        paged.extend(e["sequence"] for e in response.json["items"])
        cursor = response.json["next"]
        if cursor is None:
            break
    assert paged == list(range(1, 11))
    assert [e["sequence"] for e in events(api, alice, chat_id, after=8)] == [9, 10]


def test_patch_settings_changes_only_the_given_fields(api: Api, alice: User) -> None:
    # Given a chat with the default settings
    chat_id = api.create_chat(alice)["chat_id"]
    logged = len(events(api, alice, chat_id))

    # When Alice sets a new length limit (and restates the rate limit it already has)
    response = api.patch(
        f"/chats/{chat_id}/settings", alice, body={"max_message_length": 50, "rate_limit_messages": 10}
    )

    # Then only the length limit changed
    assert response.status == 200, response.text
    assert response.json["settings"] == {**DEFAULT_SETTINGS, "max_message_length": 50}
    assert response.json["turn_mode"] == "free"
    assert api.get(f"/chats/{chat_id}", alice).json["settings"] == response.json["settings"]

    # And one ChatSettingsChanged carries just that change
    new = events(api, alice, chat_id)[logged:]
    assert [e["event_type"] for e in new] == ["ChatSettingsChanged"]
    assert new[0]["data"]["changes"] == {"max_message_length": 50}
    assert new[0]["data"]["changed_by"] == alice.user_id
    assert new[0]["data"]["settings"] == response.json["settings"]

    # And the new limit applies at once
    assert api.send(alice, chat_id, "x" * 50).status == 201
    assert api.send(alice, chat_id, "x" * 51).status == 422

    # When she sends no change at all, Then nothing is logged
    unchanged = api.patch(f"/chats/{chat_id}/settings", alice, body={"max_message_length": 50})
    assert unchanged.status == 200, unchanged.text
    assert event_types(api, alice, chat_id).count("ChatSettingsChanged") == 1

    # When she switches the turn mode, Then the change names it and the floor goes to a member
    switched = api.patch(f"/chats/{chat_id}/settings", alice, body={"turn_mode": "round_robin"})
    assert switched.status == 200, switched.text
    assert switched.json["turn_mode"] == "round_robin"
    assert switched.json["turn"]["holder_id"] == alice.user_id
    changed = [e for e in events(api, alice, chat_id) if e["event_type"] == "ChatSettingsChanged"]
    assert changed[-1]["data"]["changes"] == {"turn_mode": "round_robin"}


def test_complete_a_chat_then_posting_gives_409(api: Api, alice: User, bob: User) -> None:
    # Given a chat of Alice and Bob with a message
    chat_id = api.create_chat(alice)["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    assert api.send(bob, chat_id, "last words").status == 201

    # When Alice completes it
    response = api.post(f"/chats/{chat_id}/complete", alice)

    # Then it is completed, and the log says by whom
    assert response.status == 200, response.text
    assert response.json["status"] == "completed"
    log = events(api, alice, chat_id)
    assert log[-1]["event_type"] == "ChatCompleted"
    assert log[-1]["data"]["completed_by"] == alice.user_id

    # And it takes no more messages, but can still be read
    refused = api.send(bob, chat_id, "wait!")
    assert refused.status == 409, refused.text
    assert refused.json["error"]["code"] == "chat_completed"
    assert messages(api, bob, chat_id) == ([1], None)
    assert api.get(f"/chats/{chat_id}", bob).json["status"] == "completed"

    # And completing again changes nothing
    again = api.post(f"/chats/{chat_id}/complete", alice)
    assert again.status == 200, again.text
    assert event_types(api, alice, chat_id).count("ChatCompleted") == 1


def test_the_openapi_document_lists_every_contract_route(api: Api) -> None:
    # When anyone fetches the OpenAPI document
    response = api.get("/openapi.json")

    # Then it is JSON and documents every route of the contract
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json
    assert document["openapi"].startswith("3.")
    for path, methods in CONTRACT.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), (path, set(document["paths"][path]))

    # And its request bodies forbid unknown fields
    schemas = document["components"]["schemas"]
    for name in ("CreateChatRequest", "PostMessageRequest", "SettingsPatch"):
        assert schemas[name]["additionalProperties"] is False, name


def test_the_docs_page_is_swagger_ui(api: Api) -> None:
    # When anyone opens /docs
    response = api.get("/docs")

    # Then they get the Swagger UI page
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text.lower()


def test_health(api: Api) -> None:
    # When anyone asks, Then the API is up
    response = api.get("/health")
    assert response.status == 200, response.text
    assert response.json == {"status": "ok"}
