"""The authorization matrix as a property: random users x chats x every route, HTTP and WebSocket.

Hypothesis draws a caller (a plain member, a stranger with a random id, a former member, a token whose
``sub`` is an AI participant's id, the owner), a chat (active with an AI participant and a message,
moderated, completed), an operation (every operation of the OpenAPI document on a chat, extensions and
analytics included, and every WebSocket action on a chat) and whether the body also carries ids the
server must own (sender, sequence, role, owner). For each cell where the answer must be a refusal:

- outsiders get 404 ``chat_not_found`` (or a refusal identical to the one for a chat that does not
  exist), with no data of the chat in it;
- members get 403 on owner and moderator operations, and on the operators' summary and usage;
- client-supplied sender, sequence, role or owner ids are refused, for every caller;
- and nothing is written: every table, the event sink and every socket are as they were.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from itertools import product
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley import root
from parley.adapters import tables
from parley.http.app import openapi_json
from parley.settings import settings as parley_settings
from tests.support.api import Api, ApiResponse, User, assert_error
from tests.support.bus import Bus
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets

DOCUMENT: dict[str, Any] = json.loads(openapi_json())
HTTP_OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if "{chat_id}" in path
)
WS_ACTIONS = ("subscribe", "unsubscribe", "typing", "sendMessage", "submitAction")
JOIN = ("POST", "/chats/{chat_id}/members")
SUMMARY = ("GET", "/analytics/summary")
OPERATORS_ONLY = {SUMMARY, ("GET", "/extensions/{extension_id}/usage/chats/{chat_id}")}
"""Operators' reads: 403 for everyone in the matrix, whether the chat exists or not."""
MODERATOR_ONLY = {
    ("PATCH", "/chats/{chat_id}/settings"),
    ("POST", "/chats/{chat_id}/complete"),
    ("POST", "/chats/{chat_id}/turn"),
    ("PUT", "/chats/{chat_id}/extensions/{extension_id}"),
    ("DELETE", "/chats/{chat_id}/extensions/{extension_id}"),
}
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/chats/{chat_id}/messages"): {"text": "let me in", "client_message_id": "probe-1"},
    ("PATCH", "/chats/{chat_id}/settings"): {"max_message_length": 7},
    ("POST", "/chats/{chat_id}/turn"): {"participant_id": "user-bob"},
    ("PUT", "/chats/{chat_id}/extensions/{extension_id}"): {"enabled": False, "config": {}},
    ("POST", "/chats/{chat_id}/read"): {"sequence": 1},
    ("POST", "/chats/{chat_id}/messages/{message_id}/actions"): {
        "action_id": "vote",
        "client_action_id": "p-1",
    },
}
FORGED = {"sender_id": "user-alice", "sequence": 1, "role": "owner", "created_by": "user-alice"}
"""Ids the server owns: a body carrying any of them is refused, whoever sends it."""
UNKNOWN_CHAT_ID = "00000000-0000-4000-8000-000000000000"
SECRETS = ("Heist", "the vault opens at nine", "the code is 4711", "user-alice", "Alice", "user-bob")
"""What each chat holds that no outsider may read."""

ALICE, BOB, ORACLE_ID = User("user-alice", "Alice"), User("user-bob", "Bob"), "oracle"
WHISPER = "the code is 4711"
"""Alice's whisper to the Oracle in the free chats: no read path may show it to Bob, a member."""
WHISPERED = ("active", "completed")
EXAMPLES = int(os.environ.get("PARLEY_MATRIX_EXAMPLES", "50"))
"""Cells drawn per run (CI); PARLEY_MATRIX_EXAMPLES=1000 covers the whole matrix."""
KINDS = ("owner", "member", "stranger", "former_member", "ai_impersonator")
OUTSIDERS = {"stranger", "former_member", "ai_impersonator"}
CHATS = ("active", "moderated", "completed")
Operation = tuple[str, str]


@dataclass(frozen=True)
class Cell:
    kind: str
    chat: str
    operation: Operation
    forged: bool

    @property
    def websocket(self) -> bool:
        return self.operation[0] == "WS"


def refused(cell: Cell) -> bool:
    """The cells whose answer must be a refusal (the rest are allowed, and other tests check them)."""
    takes_body = cell.operation in VALID_BODIES or cell.operation in {
        ("WS", "sendMessage"),
        ("WS", "submitAction"),
    }
    if cell.forged:
        return takes_body  # for every caller
    if cell.operation in OPERATORS_ONLY:
        return True  # nobody in the matrix is an operator
    if cell.kind in OUTSIDERS:
        return cell.operation != JOIN or cell.kind == "ai_impersonator"  # anyone else may join
    return cell.kind == "member" and cell.operation in MODERATOR_ONLY


CELLS = [
    cell
    for kind, chat, operation, forged in product(
        KINDS,
        CHATS,
        [*HTTP_OPERATIONS, SUMMARY, *(("WS", action) for action in WS_ACTIONS)],
        (False, True),
    )
    if (cell := Cell(kind, chat, operation, forged)) and refused(cell)
]
"""Every refusal cell: the matrix hypothesis draws from (its size is asserted below)."""


@dataclass
class World:
    api: Api
    bus: Bus
    sockets: Sockets
    chats: dict[str, str]
    connections: dict[str, str]

    def user(self, kind: str, stranger_id: str) -> User:
        return {
            "owner": ALICE,
            "member": BOB,
            "stranger": User(stranger_id, "Stranger"),
            "former_member": User("user-dave", "Dave"),
            "ai_impersonator": User(ORACLE_ID, "Not the Oracle"),
        }[kind]


def snapshot(world: World) -> dict[str, Any]:
    """Everything a request could write: every table's items, the event sink and each socket's frames."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    config = parley_settings()
    state: dict[str, Any] = {}
    for table in tables.TABLES:
        items = client.scan(TableName=getattr(config, table.setting), ConsistentRead=True)["Items"]
        state[table.key] = sorted(json.dumps(item, sort_keys=True, default=bytes.hex) for item in items)
    state["sink"] = len(world.bus.emitted())
    state["frames"] = {c: len(world.sockets.gateway.frames(c)) for c in world.connections.values()}
    return state


@pytest.fixture
def world(api: Api, bus: Bus, monkeypatch: pytest.MonkeyPatch) -> World:
    """Alice's three chats (Bob a member of each, Dave a former one), and a socket per caller."""
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    sockets = Sockets(api, gateway)
    oracle = {"id": ORACLE_ID, "name": "Oracle", "persona": "You plan heists."}
    chats = {
        name: api.create_chat(ALICE, title=f"Heist {name}", turn_mode=mode, ai_participants=[oracle])[
            "chat_id"
        ]
        for name, mode in (("active", "free"), ("moderated", "moderated"), ("completed", "free"))
    }
    dave = User("user-dave", "Dave")
    for name, chat_id in chats.items():
        for member in (BOB, dave):
            assert api.post(f"/chats/{chat_id}/members", member).status == 200
        assert api.send(ALICE, chat_id, "the vault opens at nine").status == 201
        if name in WHISPERED:  # in the moderated chat Alice's turn is taken by her first post
            assert api.send(ALICE, chat_id, WHISPER, to=[ORACLE_ID]).status == 201
        assert api.delete(f"/chats/{chat_id}/members/me", dave).status == 204
    assert api.post(f"/chats/{chats['completed']}/complete", ALICE).status == 200
    bus.pump()
    return World(api, bus, sockets, chats, connections={})


def http_call(world: World, user: User, cell: Cell, chat_id: str) -> ApiResponse:
    method, template = cell.operation
    body = VALID_BODIES.get(cell.operation)
    if cell.forged and body is not None:
        body = {**body, **FORGED}
    path = template.format(chat_id=chat_id, extension_id="welcome", message_id=UNKNOWN_CHAT_ID)
    return world.api.call(method, path, user, body=body, headers={"x-user-id": ALICE.user_id})


def connection_of(world: World, user: User) -> str:
    """The caller's socket, opened (ticket, authorizer, $connect) before anything is measured."""
    if user.user_id not in world.connections:
        world.connections[user.user_id] = world.sockets.open(user, f"conn-{user.user_id}")
    return world.connections[user.user_id]


def ws_call(world: World, user: User, cell: Cell, chat_id: str) -> dict[str, Any]:
    action = cell.operation[1]
    frame: dict[str, Any] = {"action": action, "chat_id": chat_id}
    if action == "sendMessage":
        frame |= {"text": "let me in", "client_message_id": "probe-ws"}
    if action == "submitAction":
        frame |= {"message_id": UNKNOWN_CHAT_ID, "action_id": "vote", "client_action_id": "probe-ws"}
    if cell.forged:
        frame |= FORGED
    return world.sockets.send(world.connections[user.user_id], **frame)


def _without(text: str, chat_id: str) -> str:
    return text.replace(chat_id, UNKNOWN_CHAT_ID)


def test_the_matrix_is_what_the_report_says() -> None:
    # Every chat operation of the document and every chat action of the socket is in it
    assert len(HTTP_OPERATIONS) == 18
    assert {c.operation for c in CELLS} >= {*HTTP_OPERATIONS, *(("WS", a) for a in WS_ACTIONS)}
    assert len(CELLS) == 357


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cell=st.sampled_from(CELLS),
    stranger_id=st.from_regex(r"\Auser-[a-z0-9]{1,12}\Z").filter(
        lambda u: u not in {"user-bob", "user-dave"}
    ),
)
def test_no_caller_reads_or_writes_a_chat_beyond_their_role(
    world: World, cell: Cell, stranger_id: str
) -> None:
    # Given Alice's chats, and a caller of the drawn kind
    user = world.user(cell.kind, stranger_id)
    chat_id = world.chats[cell.chat]
    if cell.websocket:
        connection_of(world, user)
    before = snapshot(world)

    # When they call the drawn operation on the chat, and on a chat that does not exist
    if cell.websocket:
        reply = ws_call(world, user, cell, chat_id)
        unknown = ws_call(world, user, cell, UNKNOWN_CHAT_ID)
        text, code = json.dumps(reply, sort_keys=True), reply.get("data", {}).get("code")
        assert reply["type"] in ("Error", "Unsubscribed"), reply
        same_as_unknown = _without(text, chat_id) == json.dumps(unknown, sort_keys=True)
    else:
        response = http_call(world, user, cell, chat_id)
        unknown_response = http_call(world, user, cell, UNKNOWN_CHAT_ID)
        text, code = response.text, (response.json or {}).get("error", {}).get("code")
        same_as_unknown = _without(text, chat_id) == unknown_response.text

    # Then the answer is the refusal the cell calls for
    if cell.forged:
        expected = {"invalid_action"} if cell.websocket else {"validation_error"}
        if cell.kind in OUTSIDERS and not cell.websocket:
            expected |= {"chat_not_found"}
        assert code in expected, text
    elif cell.operation in OPERATORS_ONLY:
        assert_error(response, 403, "forbidden")
    elif cell.kind in OUTSIDERS and cell.operation == JOIN:
        assert_error(response, 403, "forbidden")  # an AI participant's id cannot join as a human
    elif cell.kind in OUTSIDERS:
        if cell.websocket:
            assert code == "chat_not_found" or reply["type"] == "Unsubscribed", text
        else:
            assert_error(response, 404, "chat_not_found")
    else:
        assert_error(response, 403, "forbidden")

    # And an outsider cannot tell the chat from one that does not exist (joining is open to all, so
    # existence is no secret there), nor read anything of it
    if cell.kind in OUTSIDERS and cell.operation != JOIN:
        assert same_as_unknown, (text, cell)
        assert not any(secret in text for secret in SECRETS), text

    # And nothing was written: no table, no event, no frame to anyone
    assert snapshot(world) == before


def test_the_snapshot_sees_every_kind_of_write(world: World) -> None:
    # Given the world as the matrix sees it
    chat_id = world.chats["active"]
    connection_of(world, BOB)
    before = snapshot(world)

    # When a member does what members may: post, and type on a socket
    assert world.api.send(BOB, chat_id, "a write the matrix would catch").status == 201
    typing = world.sockets.send(world.connections[BOB.user_id], action="typing", chat_id=chat_id)
    after = snapshot(world)

    # Then the tables and the event sink changed, so the matrix's "nothing written" can fail
    assert typing["type"] == "Ack", typing
    assert after["chats"] != before["chats"]  # the chat head's sequence
    assert after["events"] != before["events"]  # the MessageStored row, which is the message
    assert after["sink"] > before["sink"]


def test_no_read_path_shows_a_member_a_whisper_to_others(world: World) -> None:
    # Given Alice's whisper to the Oracle in each chat, and Bob, a member of each
    reads = [op for op in HTTP_OPERATIONS if op[0] == "GET"]
    assert {("GET", "/chats/{chat_id}/messages"), ("GET", "/chats/{chat_id}/events")} <= set(reads)
    for chat_id in (world.chats[name] for name in WHISPERED):
        # When Bob calls every read of the chat, and lists his chats
        answers = [http_call(world, BOB, Cell("member", "active", op, False), chat_id) for op in reads]
        answers.append(world.api.get("/chats", BOB))
        # Then none shows the whisper (Alice, its sender, reads it in history)
        for answer in answers:
            assert WHISPER not in answer.text, answer.text
        alices = world.api.get(f"/chats/{chat_id}/messages", ALICE)
        assert WHISPER in alices.text

        # And a resume replay of the whole log gives Bob's socket a Withheld marker, not the whisper
        connection = world.sockets.open(BOB, f"replay-{chat_id}")
        reply = world.sockets.send(connection, action="subscribe", chat_id=chat_id, after_sequence=0)
        frames = world.sockets.gateway.frames(connection)
        assert reply["type"] == "Subscribed", reply
        assert WHISPER not in json.dumps(frames)
        assert "Withheld" in [f["type"] for f in frames]
