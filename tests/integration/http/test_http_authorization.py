"""Who may call what: 401 without claims, 404 for outsiders (who learn nothing), 403 for plain members.

The route matrices iterate the OpenAPI document the app generates, so a new route is covered the day it
is added (a route with a request body needs one valid example body in VALID_BODIES).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from parley.http.app import openapi_json
from tests.support.api import Api, User, assert_error

DOCUMENT: dict[str, Any] = json.loads(openapi_json())
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS: list[tuple[str, str]] = sorted(
    (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS
)
PUBLIC: set[tuple[str, str]] = {("GET", "/health"), ("GET", "/workflows/schema")}
UNDOCUMENTED_PUBLIC: list[str] = ["/openapi.json", "/docs"]
JOIN = ("POST", "/chats/{chat_id}/members")
CHAT_USAGE = ("GET", "/extensions/{extension_id}/usage/chats/{chat_id}")
"""Operators' only, for any chat: everyone else gets the same 403 whether the chat exists or not."""
CHAT_ROUTES = [op for op in OPERATIONS if "{chat_id}" in op[1] and op not in (JOIN, CHAT_USAGE)]
SIGNED_IN_ROUTES = [op for op in OPERATIONS if op not in PUBLIC]

VALID_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/chats"): {"title": "Another chat", "turn_mode": "free"},
    ("POST", "/chats/{chat_id}/messages"): {"text": "let me in", "client_message_id": "probe-1"},
    ("PATCH", "/chats/{chat_id}/settings"): {"max_message_length": 7, "turn_mode": "round_robin"},
    ("POST", "/chats/{chat_id}/turn"): {"participant_id": "oracle"},
    ("PUT", "/chats/{chat_id}/extensions/{extension_id}"): {"enabled": True, "config": {}},
    ("POST", "/chats/{chat_id}/read"): {"sequence": 1},
    ("POST", "/chats/{chat_id}/messages/{message_id}/actions"): {
        "action_id": "vote",
        "client_action_id": "p-1",
    },
}

TITLE = "Heist at the Opera"
ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You plan heists."}
ALL_ROUTES = {*CHAT_ROUTES, JOIN}
UNKNOWN_CHAT_ID = "00000000-0000-4000-8000-000000000000"


def operation(method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = DOCUMENT["paths"][path][method.lower()]
    return found


def valid_body(method: str, path: str) -> Any:
    """A body the route accepts, so that only who is calling decides the answer."""
    if "requestBody" not in operation(method, path):
        return None
    assert (method, path) in VALID_BODIES, f"add a valid example body for {method} {path} to VALID_BODIES"
    return VALID_BODIES[(method, path)]


def invalid_input(method: str, path: str) -> dict[str, Any]:
    """No body where one is required, and a non-number for every query parameter."""
    query = {p["name"]: "abc" for p in operation(method, path).get("parameters", []) if p["in"] == "query"}
    return {"body": None, "query": query or None}


def has_input(method: str, path: str) -> bool:
    return bool(invalid_input(method, path)["query"]) or "requestBody" in operation(method, path)


def snapshot(api: Api, user: User, chat_id: str) -> dict[str, Any]:
    """The member's view of everything a request could change: chat, messages, event log and chat list."""
    views = {
        "chat": api.get(f"/chats/{chat_id}", user),
        "messages": api.get(f"/chats/{chat_id}/messages", user, query={"limit": 200}),
        "events": api.get(f"/chats/{chat_id}/events", user, query={"limit": 200}),
        "my_chats": api.get("/chats", user),
    }
    assert all(r.status == 200 for r in views.values()), {k: r.text for k, r in views.items()}
    return {name: response.json for name, response in views.items()}


@pytest.fixture(scope="module")
def _shared() -> dict[str, str]:
    return {}


@pytest.fixture
def chat_id(api: Api, alice: User, bob: User, _shared: dict[str, str]) -> str:
    """Alice's chat with Bob and the AI Oracle, and one message; made once, as no test may change it."""
    if "chat_id" not in _shared:
        chat = api.create_chat(alice, title=TITLE, ai_participants=[ORACLE])
        _shared["chat_id"] = chat["chat_id"]
        assert api.post(f"/chats/{chat['chat_id']}/members", bob).status == 200
        assert api.send(bob, chat["chat_id"], "the vault opens at nine").status == 201
    return _shared["chat_id"]


def test_the_matrices_cover_the_chat_routes() -> None:
    # Given the generated document, Then the matrices below are not vacuous
    assert ("GET", "/chats/{chat_id}") in CHAT_ROUTES
    assert ("POST", "/chats/{chat_id}/messages") in CHAT_ROUTES
    assert JOIN in OPERATIONS
    assert JOIN not in CHAT_ROUTES
    assert ("GET", "/chats") in SIGNED_IN_ROUTES


OUTSIDERS = ["stranger", "former_member", "ai_impersonator"]


def outsider(kind: str, api: Api, chat_id: str, carol: User) -> User:
    if kind == "stranger":
        return carol  # never joined
    if kind == "ai_impersonator":
        return User(ORACLE["id"], "Not the Oracle")  # a token whose sub is the AI participant's id
    former = User("user-dave", "Dave")
    if api.get(f"/chats/{chat_id}", former).status != 200:
        assert api.post(f"/chats/{chat_id}/members", former).status == 200
    assert api.delete(f"/chats/{chat_id}/members/me", former).status == 204
    return former


@pytest.mark.parametrize("kind", OUTSIDERS)
@pytest.mark.parametrize(("method", "path"), CHAT_ROUTES, ids=[f"{m} {p}" for m, p in CHAT_ROUTES])
def test_outsiders_get_404_and_learn_nothing_on_every_chat_route(
    api: Api, alice: User, carol: User, chat_id: str, kind: str, method: str, path: str
) -> None:
    # Given Alice's chat, and someone who is not (or no longer) a member of it
    who = outsider(kind, api, chat_id, carol)
    before = snapshot(api, alice, chat_id)

    # When they call the route on the chat, and on a chat that does not exist
    body = valid_body(method, path)
    response = api.call(
        method,
        path.format(chat_id=chat_id, extension_id="welcome", message_id=UNKNOWN_CHAT_ID),
        who,
        body=body,
    )
    unknown = api.call(
        method,
        path.format(chat_id=UNKNOWN_CHAT_ID, extension_id="welcome", message_id=UNKNOWN_CHAT_ID),
        who,
        body=body,
    )

    # Then it is as if the chat did not exist
    assert_error(response, 404, "chat_not_found")
    assert response.text.replace(chat_id, UNKNOWN_CHAT_ID) == unknown.text
    for secret in (TITLE, alice.user_id, alice.name, "user-bob", "Bob", "the vault"):
        assert secret not in response.text

    # And nothing changed
    assert snapshot(api, alice, chat_id) == before


@pytest.mark.parametrize("kind", ["member", *OUTSIDERS])
def test_only_operators_read_an_extensions_usage_in_a_chat(
    api: Api, alice: User, bob: User, carol: User, chat_id: str, kind: str
) -> None:
    # Given Alice's chat and a caller who is a member of it or not, but no operator
    assert CHAT_USAGE in OPERATIONS
    who = bob if kind == "member" else outsider(kind, api, chat_id, carol)
    method, path = CHAT_USAGE

    # When they ask for an extension's usage in it, and in a chat that does not exist
    response = api.call(method, path.format(extension_id="welcome", chat_id=chat_id), who)
    unknown = api.call(method, path.format(extension_id="welcome", chat_id=UNKNOWN_CHAT_ID), who)

    # Then both are the same refusal: it tells nobody whether the chat exists
    assert_error(response, 403, "forbidden")
    assert response.text == unknown.text


@pytest.mark.parametrize("kind", OUTSIDERS)
def test_outsiders_do_not_see_the_chat_in_their_list(api: Api, carol: User, chat_id: str, kind: str) -> None:
    # Given someone who is not (or no longer) a member of Alice's chat
    who = outsider(kind, api, chat_id, carol)

    # When they list their chats
    response = api.get("/chats", who)

    # Then Alice's chat is not among them
    assert response.status == 200, response.text
    assert chat_id not in response.text
    assert TITLE not in response.text


def test_any_signed_in_user_may_join(api: Api, alice: User, chat_id: str) -> None:
    # Given a user who is not a member
    erin = User("user-erin", "Erin")
    assert api.get(f"/chats/{chat_id}", erin).status == 404

    # When she joins
    joined = api.post(f"/chats/{chat_id}/members", erin)

    # Then she is a plain member and may read the chat
    assert joined.status == 200, joined.text
    me = next(p for p in joined.json["participants"] if p["id"] == erin.user_id)
    assert (me["kind"], me["role"]) == ("human", "member")
    assert api.get(f"/chats/{chat_id}", erin).status == 200
    assert api.delete(f"/chats/{chat_id}/members/me", erin).status == 204


IDENTITIES = {"no_claims": None, "claims_without_sub": User("", "Nobody")}


@pytest.mark.parametrize("identity", list(IDENTITIES))
@pytest.mark.parametrize(("method", "path"), SIGNED_IN_ROUTES, ids=[f"{m} {p}" for m, p in SIGNED_IN_ROUTES])
def test_every_route_but_the_public_ones_needs_claims(
    api: Api, alice: User, chat_id: str, identity: str, method: str, path: str
) -> None:
    # Given a valid request that carries no usable JWT claims (headers cannot stand in for them)
    before = snapshot(api, alice, chat_id)
    forged = {"x-user-id": alice.user_id, "authorization": "Bearer forged"}

    # When it is sent
    response = api.call(
        method,
        path.format(chat_id=chat_id, extension_id="welcome", message_id=UNKNOWN_CHAT_ID),
        IDENTITIES[identity],
        body=valid_body(method, path),
        headers=forged,
    )

    # Then it is refused as unauthenticated, reveals nothing and changes nothing
    assert_error(response, 401, "not_authenticated")
    assert TITLE not in response.text
    assert snapshot(api, alice, chat_id) == before


@pytest.mark.parametrize("path", ["/health", "/workflows/schema", *UNDOCUMENTED_PUBLIC])
def test_public_routes_need_no_claims(api: Api, path: str) -> None:
    # Given no claims, When the public route is called, Then it answers
    response = api.get(path)
    assert response.status == 200, response.text


UNAUTHENTICATED_BAD_INPUT = [
    pytest.param(method, path, id=f"{method} {path}")
    for method, path in SIGNED_IN_ROUTES
    if has_input(method, path)
]


@pytest.mark.parametrize(("method", "path"), UNAUTHENTICATED_BAD_INPUT)
def test_without_claims_bad_input_still_gets_401(api: Api, chat_id: str, method: str, path: str) -> None:
    # Given a request without claims that is also invalid (no body, non-numeric query parameters)
    # When it is sent
    response = api.call(
        method,
        path.format(chat_id=chat_id, extension_id="welcome", message_id=UNKNOWN_CHAT_ID),
        None,
        **invalid_input(method, path),
    )

    # Then who is calling is checked first
    assert_error(response, 401, "not_authenticated")


MODERATOR_ONLY = [
    ("PATCH", "/chats/{chat_id}/settings"),
    ("POST", "/chats/{chat_id}/complete"),
    ("PUT", "/chats/{chat_id}/extensions/{extension_id}"),
    ("DELETE", "/chats/{chat_id}/extensions/{extension_id}"),
]


@pytest.mark.parametrize(("method", "path"), MODERATOR_ONLY, ids=[f"{m} {p}" for m, p in MODERATOR_ONLY])
def test_a_plain_member_gets_403_on_moderator_routes(
    api: Api, alice: User, bob: User, chat_id: str, method: str, path: str
) -> None:
    # Given Bob, a member of Alice's chat who is neither its owner nor a moderator
    roles = {p["id"]: p["role"] for p in api.get(f"/chats/{chat_id}", bob).json["participants"]}
    assert roles[bob.user_id] == "member"
    before = snapshot(api, alice, chat_id)

    # When he changes the settings or completes the chat
    response = api.call(
        method,
        path.format(chat_id=chat_id, extension_id="welcome", message_id=UNKNOWN_CHAT_ID),
        bob,
        body=valid_body(method, path),
    )

    # Then he is forbidden, and the chat is as it was
    assert_error(response, 403, "forbidden")
    after = snapshot(api, alice, chat_id)
    assert after == before
    assert after["chat"]["status"] == "active"


def test_a_user_whose_sub_is_an_ai_id_cannot_join_as_it(api: Api, alice: User, chat_id: str) -> None:
    # Given Alice's chat with the AI participant "oracle", and a token whose sub is "oracle"
    impostor = User(ORACLE["id"], "Oracle")
    before = snapshot(api, alice, chat_id)

    # When the impostor joins, and posts
    joined = api.post(f"/chats/{chat_id}/members", impostor)
    posted = api.send(impostor, chat_id, "I am the Oracle", client_message_id="o-1")

    # Then joining is forbidden and posting finds no chat
    assert_error(joined, 403, "forbidden")
    assert_error(posted, 404, "chat_not_found")

    # And the AI participant is still the AI, no human took its id, nothing was stored
    after = snapshot(api, alice, chat_id)
    assert after == before
    oracle = [p for p in after["chat"]["participants"] if p["id"] == ORACLE["id"]]
    assert [(p["kind"], p["name"]) for p in oracle] == [("ai", "Oracle")]
    assert chat_id not in api.get("/chats", impostor).text


def test_a_member_who_leaves_loses_access_until_joining_again(api: Api, alice: User, carol: User) -> None:
    # Given Carol, a member of a chat of Alice
    chat_id = api.create_chat(alice, title="Short stay")["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", carol).status == 200
    assert api.send(carol, chat_id, "hi, bye", client_message_id="c-1").status == 201

    # When she leaves
    left = api.delete(f"/chats/{chat_id}/members/me", carol)

    # Then she can no longer read, post or replay her earlier message
    assert left.status == 204, left.text
    assert_error(api.get(f"/chats/{chat_id}", carol), 404, "chat_not_found")
    assert_error(api.get(f"/chats/{chat_id}/messages", carol), 404, "chat_not_found")
    assert_error(api.send(carol, chat_id, "hi, bye", client_message_id="c-1"), 404, "chat_not_found")
    assert_error(api.delete(f"/chats/{chat_id}/members/me", carol), 404, "chat_not_found")
    assert chat_id not in api.get("/chats", carol).text

    # And joining again lets her back in
    assert api.post(f"/chats/{chat_id}/members", carol).status == 200
    assert api.get(f"/chats/{chat_id}/messages", carol).json["items"][0]["text"] == "hi, bye"
