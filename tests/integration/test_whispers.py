"""Whispers on moto: `to` on POST /chats/{id}/messages reaches its sender and addressees only, on every
read path (pushes, resume replays, history, /events, the inbox, AI replies, extension routing); every
other member gets a content-free Withheld marker at its sequence, so their gap detection holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from parley import root
from parley.ai.providers import LocalProvider, ModelRequest, StreamEvent
from parley.errors import ProviderError
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets

SECRET = "the vault opens at nine"
ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}


@pytest.fixture
def gateway(api: Api, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    root.reset()
    injected = Gateway()
    injected.install(root.pusher().client)
    return injected


@pytest.fixture
def sockets(api: Api, gateway: Gateway) -> Sockets:
    return Sockets(api, gateway)


@pytest.fixture
def chat(api: Api, bus: Bus, alice: User, bob: User, carol: User) -> str:
    """Alice's free chat with Bob, Carol and the Oracle, everything so far delivered."""
    chat_id: str = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    for member in (bob, carol):
        assert api.post(f"/chats/{chat_id}/members", member).status == 200
    bus.pump()
    return chat_id


def _subscribed(sockets: Sockets, chat_id: str, *users: User) -> dict[str, str]:
    connections = {u.user_id: sockets.open(u, f"conn-{u.user_id}") for u in users}
    for connection in connections.values():
        sockets.subscribe(connection, chat_id)
    return connections


def _items(api: Api, user: User, path: str) -> list[dict[str, Any]]:
    response = api.get(path, user, query={"limit": 200})
    assert response.status == 200, response.text
    items: list[dict[str, Any]] = response.json["items"]
    return items


def _whisper(api: Api, chat_id: str, sender: User, to: list[str], text: str = SECRET) -> dict[str, Any]:
    response = api.send(sender, chat_id, text, to=to)
    assert response.status == 201, response.text
    body: dict[str, Any] = response.json
    return body


def test_a_whisper_reaches_its_people_and_the_others_get_only_a_marker(
    api: Api, bus: Bus, sockets: Sockets, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given Alice, Bob and Carol subscribed to the chat
    conns = _subscribed(sockets, chat, alice, bob, carol)

    # When Alice whispers to Bob, then posts to everyone
    whisper = _whisper(api, chat, alice, [bob.user_id])
    assert api.send(alice, chat, "hello all").status == 201
    bus.pump()

    # Then the stored whisper names its addressee, and Bob and Alice got it pushed
    assert whisper["to"] == [bob.user_id]
    for user in (alice, bob):
        texts = [
            f["data"]["message"]["text"]
            for f in sockets.gateway.frames(conns[user.user_id])
            if f["type"] == "MessageStored"
        ]
        assert texts == [SECRET, "hello all"]
    # And Carol got, at its sequence, a Withheld frame with nothing but its place, then the public post
    carols = [f for f in sockets.gateway.frames(conns[carol.user_id]) if f.get("sequence")]
    whisper_seq = next(
        f["sequence"] for f in sockets.gateway.frames(conns[bob.user_id]) if f["type"] == "MessageStored"
    )
    withheld = [f for f in carols if f["type"] == "Withheld"]
    assert withheld == [{"type": "Withheld", "chat_id": chat, "sequence": whisper_seq, "data": {}}]
    assert SECRET not in json.dumps(sockets.gateway.frames(conns[carol.user_id]))
    # And her live sequences have no gap the whisper would have made
    sequences = [f["sequence"] for f in carols]
    assert whisper_seq in sequences
    assert sequences == sorted(sequences)


def test_history_events_and_replays_show_the_marker_not_the_whisper(
    api: Api, bus: Bus, sockets: Sockets, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given a public post, a whisper from Alice to Bob, and another public post
    assert api.send(alice, chat, "before").status == 201
    before = _items(api, carol, f"/chats/{chat}/events")[-1]["sequence"]
    _whisper(api, chat, alice, [bob.user_id])
    assert api.send(bob, chat, "after").status == 201
    bus.pump()

    # When Carol reads history: the whisper is skipped (message sequence 2 is absent)
    assert [m["text"] for m in _items(api, carol, f"/chats/{chat}/messages")] == ["before", "after"]
    assert [m["text"] for m in _items(api, bob, f"/chats/{chat}/messages")] == ["before", SECRET, "after"]
    # And Carol's event log has a Withheld item at each of the whisper's events, with no content
    carols = _items(api, carol, f"/chats/{chat}/events")
    bobs = _items(api, bob, f"/chats/{chat}/events")
    assert [i["sequence"] for i in carols] == [i["sequence"] for i in bobs]  # no gap
    hidden = [i for i in carols if i["event_type"] == "Withheld"]
    assert hidden
    assert all(i["data"] == {} and i["event_id"] is None for i in hidden)
    assert {i["metadata"]["sequence"] for i in hidden} == {
        i["sequence"] for i in bobs if i["metadata"].get("audience") == [alice.user_id, bob.user_id]
    }
    assert SECRET not in json.dumps(carols)

    # And a resume replay from before the whisper gives Carol the marker in its place, Bob the message
    for user in (carol, bob):
        conn = sockets.open(user, f"resume-{user.user_id}")
        sockets.subscribe(conn, chat, after_sequence=before)
    replayed = sockets.gateway.frames(f"resume-{carol.user_id}")
    assert "Withheld" in [f["type"] for f in replayed]
    assert SECRET not in json.dumps(replayed)
    assert SECRET in json.dumps(sockets.gateway.frames(f"resume-{bob.user_id}"))


def test_the_inbox_counts_and_previews_a_whisper_for_its_people_only(
    api: Api, bus: Bus, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given a public post, then a whisper from Alice to Bob
    assert api.send(alice, chat, "public").status == 201
    _whisper(api, chat, alice, [bob.user_id])
    bus.pump()

    def entry(user: User) -> dict[str, Any]:
        return next(c for c in _items(api, user, "/chats") if c["chat_id"] == chat)

    # Then Bob counts two unread and sees the whisper as the latest; Carol counts one and sees the post
    assert (entry(bob)["unread"], entry(bob)["last_message"]["text"]) == (2, SECRET)
    assert (entry(carol)["unread"], entry(carol)["last_message"]["text"]) == (1, "public")
    # And marking all read leaves Carol nothing unread (the whisper never counted for her)
    read = api.post(f"/chats/{chat}/read", carol, body={"sequence": 99})
    assert read.json["unread"] == 0
    assert entry(carol)["unread"] == 0


def test_an_ai_answers_a_whisper_with_a_whisper_to_the_same_people(
    api: Api, bus: Bus, sockets: Sockets, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given Bob and Carol subscribed
    conns = _subscribed(sockets, chat, bob, carol)

    # When Alice whispers to the Oracle, mentioning it (the local model echoes what it was told)
    _whisper(api, chat, alice, ["oracle"], text=f"@Oracle {SECRET}")
    bus.pump()

    # Then the Oracle's reply is stored as a whisper to Alice, which Alice reads and Bob does not
    alices = _items(api, alice, f"/chats/{chat}/messages")
    assert [(m["sender_id"], m["to"]) for m in alices] == [
        (alice.user_id, ["oracle"]),
        ("oracle", [alice.user_id]),
    ]
    assert _items(api, bob, f"/chats/{chat}/messages") == []
    # And neither the reply's chunks nor its text reached Bob's or Carol's sockets
    for user in (bob, carol):
        frames = sockets.gateway.frames(conns[user.user_id])
        assert SECRET not in json.dumps(frames)
        assert "AIResponseChunk" not in [f["type"] for f in frames]


def test_a_whisper_is_routed_only_to_extensions_that_may_see_it(
    api: Api, bus: Bus, chat: str, alice: User, bob: User
) -> None:
    # Given the chat's default extensions (none holds messages:read_private)
    # When Alice whispers to Bob and posts publicly
    _whisper(api, chat, alice, [bob.user_id])
    assert api.send(alice, chat, "public").status == 201
    stored = [e["detail"] for e in bus.emitted() if e["detail-type"] == "MessageStored"]

    # Then the public post is routed to the chat's extensions, the whisper to none of them
    public, private = (
        next(d for d in stored if d["data"]["message"]["text"] == t) for t in ("public", SECRET)
    )
    assert public["metadata"]["extensions"]
    assert private["metadata"]["extensions"] == []
    assert private["metadata"]["audience"] == [alice.user_id, bob.user_id]


@pytest.mark.parametrize(
    ("to", "code"),
    [
        (["user-nobody"], "invalid_request"),
        (["user-bob", "user-bob"], "invalid_request"),
        (["user-alice"], "invalid_request"),
        ([], "validation_error"),
        ([f"user-{i}" for i in range(6)], "validation_error"),
    ],
)
def test_to_names_one_to_five_distinct_current_members(
    api: Api, chat: str, alice: User, to: list[str], code: str
) -> None:
    assert_error(api.send(alice, chat, "psst", to=to), 422, code, field="to")
    assert _items(api, alice, f"/chats/{chat}/messages") == []


def test_an_ai_not_addressed_never_sees_a_whisper_as_a_trigger_or_in_its_context(
    api: Api, bus: Bus, chat: str, alice: User, bob: User
) -> None:
    # Given Alice whispers to Bob, mentioning the Oracle (which is not addressed)
    _whisper(api, chat, alice, [bob.user_id], text=f"@Oracle {SECRET}")
    bus.pump()
    # Then the Oracle was not asked
    assert "AIResponseRequested" not in bus.emitted_types()

    # When Bob then asks the Oracle in public
    assert api.send(bob, chat, "@Oracle what is new?").status == 201
    bus.pump()

    # Then its reply (the local model counts what it read) saw only Bob's public message
    reply = next(m for m in _items(api, bob, f"/chats/{chat}/messages") if m["sender_id"] == "oracle")
    assert reply["to"] is None
    assert "I have read 1 message from Bob" in reply["text"]
    assert SECRET not in reply["text"]


class _Recording(LocalProvider):
    """The local model, keeping every request it was sent (what its reply could have drawn on)."""

    def __init__(self) -> None:
        super().__init__(chunk_delay_ms=0)
        self.requests: list[ModelRequest] = []

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        self.requests.append(request)
        return super().stream(request)


def test_a_public_reply_is_written_without_the_whispers_the_ai_was_part_of(
    api: Api, bus: Bus, chat: str, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the Oracle's model records what it is sent
    model = _Recording()
    monkeypatch.setattr(root, "provider_for", lambda participant: model)
    root.reset()
    # And Alice whispered a secret to the Oracle, which whispered back (quoting it)
    _whisper(api, chat, alice, ["oracle"], text=f"@Oracle {SECRET}")
    bus.pump()
    (to_alice,) = model.requests
    assert SECRET in json.dumps([m.text for m in to_alice.messages])

    # When Bob asks the Oracle in public what Alice told it
    assert api.send(bob, chat, "@Oracle what did Alice tell you?").status == 201
    bus.pump()

    # Then the public reply's model request held neither whisper, only Bob's question
    public = model.requests[-1]
    assert len(model.requests) == 2
    assert SECRET not in public.system + json.dumps([m.text for m in public.messages])
    assert [m.speaker for m in public.messages] == ["Bob"]
    reply = [m for m in _items(api, bob, f"/chats/{chat}/messages") if m["sender_id"] == "oracle"]
    assert [(m["to"], SECRET in m["text"]) for m in reply] == [(None, False)]


def test_an_ais_turn_reply_is_written_without_a_whisper_it_was_told(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a round-robin chat of Alice and the Oracle, whose model records what it is sent
    model = _Recording()
    monkeypatch.setattr(root, "provider_for", lambda participant: model)
    root.reset()
    chat_id: str = api.create_chat(alice, turn_mode="round_robin", ai_participants=[ORACLE])["chat_id"]
    bus.pump()

    # When Alice, on her turn, whispers a secret to the Oracle and the floor passes to it
    _whisper(api, chat_id, alice, ["oracle"], text=f"@Oracle {SECRET}")
    bus.pump()

    # Then the turn's request (public: the turn is everyone's) was answered without the whisper
    (turn_request,) = model.requests
    assert SECRET not in json.dumps([m.text for m in turn_request.messages])
    reply = [m for m in _items(api, alice, f"/chats/{chat_id}/messages") if m["sender_id"] == "oracle"]
    assert [(m["to"], SECRET in m["text"]) for m in reply] == [(None, False)]


class _Failing:
    name = "failing"

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        raise ProviderError("model_error", "the model broke")


def test_a_failed_reply_to_a_whisper_is_announced_to_the_whispers_people_only(
    api: Api,
    bus: Bus,
    sockets: Sockets,
    chat: str,
    alice: User,
    bob: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Alice and Bob subscribed, and the Oracle's model failing
    monkeypatch.setattr(root, "provider_for", lambda participant: _Failing())
    conns = _subscribed(sockets, chat, alice, bob)

    # When Alice whispers to the Oracle and its reply fails
    _whisper(api, chat, alice, ["oracle"], text=f"@Oracle {SECRET}")
    bus.pump()

    # Then the failure has the reply's audience: Alice got its frame, Bob did not
    (failed,) = [e["detail"] for e in bus.emitted() if e["detail-type"] == "AIResponseFailed"]
    assert failed["metadata"]["audience"] == ["oracle", alice.user_id]
    types = {u: [f["type"] for f in sockets.gateway.frames(conns[u.user_id])] for u in (alice, bob)}
    assert "AIResponseFailed" in types[alice]
    assert "AIResponseFailed" not in types[bob]


def test_the_owner_reads_no_whisper_between_others(
    api: Api, bus: Bus, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given Bob whispers to Carol in Alice's chat
    _whisper(api, chat, bob, [carol.user_id])
    bus.pump()
    # Then Alice, the owner, reads it neither in history nor in the event log
    assert _items(api, alice, f"/chats/{chat}/messages") == []
    assert SECRET not in json.dumps(_items(api, alice, f"/chats/{chat}/events"))
    assert [m["text"] for m in _items(api, carol, f"/chats/{chat}/messages")] == [SECRET]


def _moderated(api: Api, chat_id: str, owner: User, **install: Any) -> None:
    body = {"enabled": True, "config": {"blocked_terms": ["vault"]}, **install}
    response = api.put(f"/chats/{chat_id}/extensions/moderation", owner, body=body)
    assert response.status in (200, 201), response.text


def _event_types(api: Api, user: User, chat_id: str) -> list[str]:
    return [i["event_type"] for i in _items(api, user, f"/chats/{chat_id}/events")]


def test_a_refused_whispers_rulings_are_stored_for_the_whispers_people_only(
    api: Api, bus: Bus, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given live moderation that rejects the whisper's text
    _moderated(api, chat, alice, config={"blocked_terms": ["vault"], "action": "reject"})

    # When Bob whispers it to Alice and moderation refuses it
    assert api.send(bob, chat, SECRET, to=[alice.user_id]).status == 422

    # Then its MessageModerated is the whisper's people's (Bob's and Alice's), a marker for Carol
    assert "MessageModerated" in _event_types(api, bob, chat)
    assert "MessageModerated" in _event_types(api, alice, chat)
    assert "MessageModerated" not in _event_types(api, carol, chat)
    ruled = [e["detail"] for e in bus.emitted() if e["detail-type"] == "MessageModerated"]
    assert [d["metadata"]["audience"] for d in ruled] == [[bob.user_id, alice.user_id]]


def test_a_refused_whispers_notice_goes_only_to_extensions_that_may_see_the_whisper(
    api: Api, bus: Bus, chat: str, alice: User, bob: User
) -> None:
    # Given live moderation that rejects the text, and the chat's default extensions (none holds
    # messages:read_private)
    _moderated(api, chat, alice, config={"blocked_terms": ["vault"], "action": "reject"})

    # When Bob's whisper to Alice and then his public post of the same text are refused
    assert api.send(bob, chat, SECRET, to=[alice.user_id]).status == 422
    assert api.send(bob, chat, SECRET).status == 422

    # Then the public refusal is announced to the chat's extensions, the whisper's to none of them,
    # and it carries the whisper's audience: its reason names what was in the text
    private, public = (e["detail"] for e in bus.emitted() if e["detail-type"] == "MessageRejected")
    assert public["metadata"]["extensions"]
    assert public["metadata"]["audience"] is None
    assert private["metadata"]["extensions"] == []
    assert private["metadata"]["audience"] == [bob.user_id, alice.user_id]


def test_a_whispers_moderators_only_events_are_for_the_moderators_among_its_people(
    api: Api, bus: Bus, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given live moderation that lets the whisper's text through and a shadow config that would not
    _moderated(
        api,
        chat,
        alice,
        config={"blocked_terms": ["spoiler"]},
        shadow_config={"blocked_terms": ["vault"], "action": "reject"},
    )

    # When Alice (the owner) whispers it to Bob (a plain member)
    _whisper(api, chat, alice, [bob.user_id])

    # Then the shadow ruling on it is Alice's alone: Bob, in the whisper but no moderator, and
    # Carol, outside it, read a marker; the message itself is still Alice's and Bob's
    assert "ExtensionShadowOutput" in _event_types(api, alice, chat)
    assert "ExtensionShadowOutput" not in _event_types(api, bob, chat)
    assert "ExtensionShadowOutput" not in _event_types(api, carol, chat)
    [shadow] = [e["detail"] for e in bus.emitted() if e["detail-type"] == "ExtensionShadowOutput"]
    assert shadow["metadata"]["audience"] == [alice.user_id]
    [stored] = [e["detail"] for e in bus.emitted() if e["detail-type"] == "MessageStored"][-1:]
    assert stored["metadata"]["audience"] == [alice.user_id, bob.user_id]


def test_an_ai_whispered_reply_refused_by_moderation_is_ruled_on_for_the_whispers_people_only(
    api: Api, bus: Bus, chat: str, alice: User, bob: User, carol: User
) -> None:
    # Given live moderation that rejects the local model's echo ("you said") but not the question
    _moderated(api, chat, alice, config={"blocked_terms": ["you said"], "action": "reject"})

    # When Bob whispers to the Oracle and its whispered reply is refused
    _whisper(api, chat, bob, ["oracle"], text=f"@Oracle {SECRET}")
    bus.pump()

    # Then the reply's rejection is stored for the reply's people (the Oracle and Bob): Alice, the
    # owner outside the whisper, and Carol read a marker
    ruled = [e["detail"] for e in bus.emitted() if e["detail-type"] == "MessageModerated"]
    rejected = [d for d in ruled if d["data"]["action"] == "reject"]
    assert [d["metadata"]["audience"] for d in rejected] == [["oracle", bob.user_id]]
    assert _event_types(api, bob, chat).count("MessageModerated") == 2
    for outsider in (alice, carol):
        assert "MessageModerated" not in _event_types(api, outsider, chat)
