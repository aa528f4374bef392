"""Read filters on moto: an extension's ``on_read`` hook shapes what each viewer reads, on every read
path (pushes, GET messages, GET events, the subscribe replay), and is asked once per message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from parley import root
from parley.adapters.dynamodb import ChatRepository, LoadedChat
from parley.adapters.history import verdicts_key
from parley.adapters.memory import InMemoryPusher
from parley.adapters.tables import IdempotencyRecord
from parley.catalog import parse_detail
from parley.clock import utc_now
from parley.domain.read_filters import MessageKey, MessageVerdicts
from parley.extensions.hooks import ReadFilterAnswer, ReadFilterRequest, ReadVerdict
from parley.extensions.manifest import EmptyConfig, Hooks, Manifest
from parley.extensions.sdk import Context, Extension
from parley.realtime.fanout import Broadcaster
from parley.services.read_filters import VERDICT_TTL, ReadFilters
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, install, registered
from tests.support.readme import example
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets

SPOILER = "the butler ||did it||"
MASKED = "the butler [spoiler]"


@pytest.fixture
def sockets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Sockets:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    return Sockets(api, gateway)


def texts(api: Api, user: User, chat_id: str) -> list[tuple[str, str | None]]:
    items = api.get(f"/chats/{chat_id}/messages", user).json["items"]
    return [(m["text"], m.get("filtered")) for m in items]


def logged_texts(api: Api, user: User, chat_id: str) -> list[tuple[str, str | None]]:
    items = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200}).json["items"]
    return [
        (i["data"]["message"]["text"], i["data"]["message"].get("filtered"))
        for i in items
        if i["event_type"] == "MessageStored"
    ]


def pushed_texts(sockets: Sockets, connection_id: str) -> list[tuple[str, str | None]]:
    return [
        (f["data"]["message"]["text"], f["data"]["message"].get("filtered"))
        for f in sockets.gateway.frames(connection_id)
        if f["type"] == "MessageStored"
    ]


def spoiler_chat(api: Api, bus: Bus, alice: User, bob: User, carol: User, **config: Any) -> str:
    """Alice's chat with Bob and Carol, where Bob opted in to hiding spoilers."""
    chat_id: str = api.create_chat(alice)["chat_id"]
    for member in (bob, carol):
        assert api.post(f"/chats/{chat_id}/members", member).status == 200
    install(api, alice, chat_id, "spoilers", hide_for=[bob.user_id], **config)
    bus.pump()
    return chat_id


def test_a_spoiler_is_masked_for_the_member_who_opted_in_and_only_for_him(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    # Given a chat with the spoilers extension, where Bob opted in, and everyone's socket subscribed
    chat_id = spoiler_chat(api, bus, alice, bob, carol)
    for user in (alice, bob, carol):
        sockets.open(user, f"conn-{user.name}")
        sockets.subscribe(f"conn-{user.name}", chat_id)

    # When Alice posts a spoiler and a plain message
    assert api.send(alice, chat_id, SPOILER).status == 201
    assert api.send(alice, chat_id, "no secrets here").status == 201
    bus.pump()

    # Then Bob reads it masked in his pushes, his history and the event log; Alice and Carol whole
    bob_reads = [(MASKED, "rewritten"), ("no secrets here", None)]
    whole = [(SPOILER, None), ("no secrets here", None)]
    assert pushed_texts(sockets, "conn-Bob") == bob_reads
    assert texts(api, bob, chat_id) == bob_reads
    assert logged_texts(api, bob, chat_id) == bob_reads
    for user in (alice, carol):
        assert pushed_texts(sockets, f"conn-{user.name}") == whole
        assert texts(api, user, chat_id) == whole
        assert logged_texts(api, user, chat_id) == whole

    # And what is stored and put on the bus is the message as written
    stored = [e for e in bus.emitted() if e["detail-type"] == "MessageStored"]
    assert [e["detail"]["data"]["message"]["text"] for e in stored][-2:] == [SPOILER, "no secrets here"]

    # And a socket of Bob's that resumes from before the messages gets them masked in the replay
    sockets.open(bob, "conn-Bob-2")
    sockets.subscribe("conn-Bob-2", chat_id, after_sequence=1)
    assert pushed_texts(sockets, "conn-Bob-2") == bob_reads


def test_an_ai_reply_in_a_filtered_chat_is_not_streamed_past_the_filter(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chat with the Oracle (the local model echoes the question) where Bob hides spoilers
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    oracle = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}
    chat_id: str = api.create_chat(alice, ai_participants=[oracle])["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    install(api, alice, chat_id, "spoilers", hide_for=[bob.user_id])
    sockets.open(bob, "conn-Bob")
    sockets.subscribe("conn-Bob", chat_id)
    bus.pump()

    # When Alice asks the Oracle with a spoiler in the question
    assert api.send(alice, chat_id, "@Oracle was it ||the butler||?").status == 201
    bus.pump()

    # Then Bob's socket got no draft chunk, and the stored reply masked: the spoiler nowhere
    frames = sockets.gateway.frames("conn-Bob")
    assert "AIResponseChunk" not in [f["type"] for f in frames]
    assert all("the butler" not in json.dumps(f) for f in frames)
    replies = [m for m in pushed_texts(sockets, "conn-Bob") if m[0].startswith("Alice, you said")]
    assert replies
    assert all(filtered == "rewritten" for _, filtered in replies)


def test_hide_whole_message_pushes_a_marker_without_the_text(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    chat_id = spoiler_chat(api, bus, alice, bob, carol, hide_whole_message=True)
    sockets.open(bob, "conn-b")
    sockets.subscribe("conn-b", chat_id)

    assert api.send(alice, chat_id, SPOILER).status == 201
    bus.pump()

    [frame] = [f for f in sockets.gateway.frames("conn-b") if f["type"] == "MessageStored"]
    assert "butler" not in str(frame)
    assert (frame["data"]["message"]["text"], frame["data"]["message"]["filtered"]) == ("", "hidden")
    assert frame["sequence"] is not None  # it keeps its place: no gap for the client
    assert texts(api, bob, chat_id) == [("", "hidden")]
    assert texts(api, carol, chat_id) == [(SPOILER, None)]


def test_opting_in_later_masks_what_was_already_read(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given a spoiler that everyone read whole (its verdicts cached)
    chat_id = spoiler_chat(api, bus, alice, bob, carol)
    assert api.send(alice, chat_id, SPOILER).status == 201
    bus.pump()
    assert texts(api, carol, chat_id) == [(SPOILER, None)]

    # When Carol opts in too (a config change)
    install(api, alice, chat_id, "spoilers", hide_for=[bob.user_id, carol.user_id])

    # Then her next read is masked: the cached verdicts were for the old config
    assert texts(api, carol, chat_id) == [(MASKED, "rewritten")]


SNAPE_POLL: dict[str, Any] = {
    "type": "poll",
    "action_id": "vote",
    "question": "Is ||Snape|| the killer?",
    "options": [{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}],
}


def snape_bot() -> Extension[Any]:
    """Posts a poll with a spoiler in its question on "poll"; each vote updates the message."""
    bot: Extension[Any] = Extension(
        Manifest(
            id="snape",
            version="1.0.0",
            name="Snape",
            description="A poll with a spoiler.",
            events=("MessageStored", "InteractionSubmitted"),
            capabilities=frozenset({"messages:write", "messages:interactive"}),
        )
    )

    @bot.on("MessageStored")
    def ask(event: Any, ctx: Context[Any]) -> None:
        if event.data.message.text == "poll":
            ctx.send("A poll: Is ||Snape|| the killer?", blocks=[SNAPE_POLL])

    @bot.on("InteractionSubmitted")
    def counted(event: Any, ctx: Context[Any]) -> None:
        poll = {**SNAPE_POLL, "options": [{**o, "count": 1} for o in SNAPE_POLL["options"]]}
        ctx.update_message(event.data.message_id, text="||Snape|| got a vote", blocks=[poll])

    return bot


def message_frames(frames: Sequence[dict[str, Any]]) -> list[tuple[str, str, str | None, bool]]:
    """(type, text, filtered, has blocks) of each message-carrying frame or event-log row."""
    kinds = ("MessageStored", "MessageUpdated")
    return [
        (kind, m["text"], m.get("filtered"), "blocks" in m)
        for f in frames
        if (kind := f.get("type") or f.get("event_type")) in kinds
        for m in [f["data"]["message"]]
    ]


def test_an_extensions_update_and_its_blocks_are_filtered_on_every_read_path(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    bot = snape_bot()
    with registered(bot):
        # Given a chat where Bob hides spoilers, with a bot whose poll asks about one, everyone on a socket
        chat_id = spoiler_chat(api, bus, alice, bob, carol)
        install(api, alice, chat_id, "snape")
        bus.pump()
        for user in (bob, carol):
            sockets.subscribe(sockets.open(user, f"conn-{user.name}"), chat_id)
        assert api.send(alice, chat_id, "poll").status == 201
        assert True in deliver(bot, bus.emitted(), **{"detail-type": "MessageStored"})
        bus.pump()
        [poll] = [m for m in api.get(f"/chats/{chat_id}/messages", carol).json["items"] if m.get("blocks")]

        # When Carol votes and the bot updates its message
        body = {"action_id": "vote", "values": {"option": "yes"}, "client_action_id": "v1"}
        assert (
            api.post(f"/chats/{chat_id}/messages/{poll['message_id']}/actions", carol, body=body).status
            == 202
        )
        assert deliver(bot, bus.emitted(), **{"detail-type": "InteractionSubmitted"}) == [True]
        bus.pump()

    # Then Bob reads the poll and its update masked and without blocks: pushed, in the log, replayed
    bobs = [
        ("MessageStored", "poll", None, False),
        (
            "MessageStored",
            "A poll: Is [spoiler] the killer?\nIs [spoiler] the killer?\nYes\nNo",
            "rewritten",
            False,
        ),
        ("MessageUpdated", "[spoiler] got a vote\nIs [spoiler] the killer?\nYes\nNo", "rewritten", False),
    ]
    assert message_frames(sockets.gateway.frames("conn-Bob")) == bobs
    assert (
        message_frames(api.get(f"/chats/{chat_id}/events", bob, query={"limit": 200}).json["items"]) == bobs
    )
    sockets.subscribe(sockets.open(bob, "conn-Bob-2"), chat_id, after_sequence=1)
    assert message_frames(sockets.gateway.frames("conn-Bob-2")) == bobs
    # And history shows him the latest version so
    assert [
        (m["text"], m.get("filtered"), "blocks" in m)
        for m in api.get(f"/chats/{chat_id}/messages", bob).json["items"]
    ][1:] == [bobs[2][1:]]
    # And Carol reads everything whole, with the blocks
    carols = message_frames(sockets.gateway.frames("conn-Carol"))
    assert [(kind, filtered, blocks) for kind, _, filtered, blocks in carols] == [
        ("MessageStored", None, False),
        ("MessageStored", None, True),
        ("MessageUpdated", None, True),
    ]
    assert carols[2][1] == "||Snape|| got a vote"


# -- the hook's cost and its fallback --------------------------------------------------------------


def counting_filter(
    extension_id: str, behaviour: Callable[[ReadFilterRequest], ReadFilterAnswer]
) -> tuple[Extension[Any], list[ReadFilterRequest]]:
    """A read filter that records every request it gets."""
    calls: list[ReadFilterRequest] = []
    ext: Extension[Any] = Extension(
        Manifest(
            id=extension_id,
            version="1.0.0",
            name=extension_id.title(),
            description="A read filter for tests.",
            capabilities=frozenset({"messages:filter"}),
            hooks=Hooks(on_read=True),
        )
    )

    @ext.on_read
    def rule(request: ReadFilterRequest, config: BaseModel) -> ReadFilterAnswer:
        calls.append(request)
        return behaviour(request)

    return ext, calls


def shout_for_bob(request: ReadFilterRequest) -> ReadFilterAnswer:
    return ReadFilterAnswer(
        verdicts=[
            ReadVerdict(message_id=m.message_id, viewers=["user-bob"], action="rewrite", text=m.text.upper())
            for m in request.messages
        ]
    )


def test_the_hook_is_asked_once_per_message_however_many_reads(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    ext, calls = counting_filter("shouting", shout_for_bob)
    with registered(ext):
        # Given a chat with the filter, Bob's socket subscribed
        chat_id: str = api.create_chat(alice)["chat_id"]
        for member in (bob, carol):
            api.post(f"/chats/{chat_id}/members", member)
        install(api, alice, chat_id, "shouting")
        sockets.open(bob, "conn-b")
        sockets.subscribe("conn-b", chat_id)
        bus.pump()

        # When three messages are pushed, then everyone reads the history and the log three times
        for text in ("one", "two", "three"):
            assert api.send(carol, chat_id, text).status == 201
        bus.pump()
        for _ in range(3):
            for user in (alice, bob, carol):
                texts(api, user, chat_id)
                logged_texts(api, user, chat_id)
        sockets.open(bob, "conn-b2")
        sockets.subscribe("conn-b2", chat_id, after_sequence=1)

    # Then each message was ruled on exactly once, for every member at once
    ruled = [m.text for c in calls for m in c.messages]
    assert sorted(ruled) == ["one", "three", "two"]
    assert all(sorted(c.viewers) == sorted([alice.user_id, bob.user_id, carol.user_id]) for c in calls)
    assert pushed_texts(sockets, "conn-b") == [
        ("ONE", "rewritten"),
        ("TWO", "rewritten"),
        ("THREE", "rewritten"),
    ]
    assert texts(api, bob, chat_id) == [("ONE", "rewritten"), ("TWO", "rewritten"), ("THREE", "rewritten")]
    assert texts(api, alice, chat_id) == [("one", None), ("two", None), ("three", None)]
    # and the verdicts are cached, one item per message, expiring VERDICT_TTL after their ruling
    assert all(cached(chat_id, sequence) for sequence in (1, 2, 3))
    for sequence in (1, 2, 3):
        expires = IdempotencyRecord.get(verdicts_key(chat_id, sequence)).expiration
        assert expires is not None
        assert abs(expires - (utc_now() + VERDICT_TTL)) < timedelta(minutes=5)


def cached(chat_id: str, sequence: int) -> bool:
    try:
        return bool(IdempotencyRecord.get(verdicts_key(chat_id, sequence)).data)
    except IdempotencyRecord.DoesNotExist:
        return False


def test_a_history_page_of_unruled_messages_is_one_call(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given messages posted before the filter was installed (never ruled on)
    ext, calls = counting_filter("shouting", shout_for_bob)
    with registered(ext):
        chat_id: str = api.create_chat(alice)["chat_id"]
        api.post(f"/chats/{chat_id}/members", bob)
        for i in range(5):
            api.send(alice, chat_id, f"m{i}")
        install(api, alice, chat_id, "shouting")

        # When Bob reads the history twice
        first = texts(api, bob, chat_id)
        second = texts(api, bob, chat_id)

    # Then one call ruled on the whole page, and the second read was served from the cache
    assert len(calls) == 1
    assert len(calls[0].messages) == 5
    assert first == second == [(f"M{i}", "rewritten") for i in range(5)]


def _slow(request: ReadFilterRequest) -> ReadFilterAnswer:
    time.sleep(0.6)
    return shout_for_bob(request)


def _broken(request: ReadFilterRequest) -> ReadFilterAnswer:
    raise RuntimeError("the filter is down")


@pytest.mark.parametrize("behaviour", [_slow, _broken], ids=["timeout", "error"])
@pytest.mark.parametrize(("fallback", "bob_reads"), [("allow", ("hello", None)), ("reject", ("", "hidden"))])
def test_a_filter_that_times_out_or_fails_gets_the_chats_fallback_uncached(
    api: Api,
    bus: Bus,
    alice: User,
    bob: User,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: Callable[[ReadFilterRequest], ReadFilterAnswer],
    fallback: str,
    bob_reads: tuple[str, str | None],
) -> None:
    # Given a 100 ms budget and a chat whose read filter is slow or broken
    monkeypatch.setenv("PARLEY_HOOK_BUDGET_MS", "100")
    root.reset()
    ext, calls = counting_filter("flaky_filter", behaviour)
    with registered(ext):
        chat_id: str = api.create_chat(alice)["chat_id"]
        api.post(f"/chats/{chat_id}/members", bob)
        api.patch(f"/chats/{chat_id}/settings", alice, body={"hook_fallback": fallback})
        install(api, alice, chat_id, "flaky_filter")
        api.send(alice, chat_id, "hello")

        # When Bob reads the history, twice
        started = time.perf_counter()
        first = texts(api, bob, chat_id)
        waited = time.perf_counter() - started
        second = texts(api, bob, chat_id)

    # Then the chat's fallback applied (allow keeps, reject hides), the read did not wait for the
    # hook, and nothing was cached: the second read asked again
    assert first == second == [bob_reads]
    assert waited < 0.55
    assert len(calls) == 2
    assert not cached(chat_id, 1)


def test_the_readme_read_filter_example_rewrites_for_everyone_but_its_exception(
    api: Api, alice: User, bob: User
) -> None:
    # Given an extension declared as the README says, with the README's hook
    namespace: dict[str, Any] = {"Config": EmptyConfig}
    namespace["extension"] = Extension(
        Manifest(
            id="quiet",
            version="1.0.0",
            name="Quiet",
            description="The README's read filter.",
            capabilities=frozenset({"messages:filter"}),
            hooks=Hooks(on_read=True),
        )
    )
    exec(compile(example("read-filter"), "README.md:read-filter", "exec"), namespace)
    with registered(namespace["extension"]):
        chat_id: str = api.create_chat(alice)["chat_id"]
        api.post(f"/chats/{chat_id}/members", bob)
        install(api, alice, chat_id, "quiet")

        # When Bob shouts
        api.send(bob, chat_id, "LUNCH NOW")

        # Then Bob reads it lowered, Alice (the example's exception) as written
        assert texts(api, bob, chat_id) == [("lunch now", "rewritten")]
        assert texts(api, alice, chat_id) == [("LUNCH NOW", None)]


class CountingChats(ChatRepository):
    """The chat repository, counting the chat loads and the verdict reads."""

    def __init__(self) -> None:
        super().__init__(root.bound_settings().region)
        self.loads = 0
        self.verdict_reads = 0

    def load(self, chat_id: str) -> LoadedChat | None:
        self.loads += 1
        return super().load(chat_id)

    def read_verdicts(
        self, chat_id: str, versions: Sequence[MessageKey]
    ) -> dict[MessageKey, MessageVerdicts]:
        self.verdict_reads += 1
        return super().read_verdicts(chat_id, versions)


@pytest.mark.parametrize("enabled", [False, True])
def test_the_broadcaster_reads_nothing_more_for_a_chat_without_a_read_filter(
    api: Api, alice: User, bob: User, enabled: bool
) -> None:
    # Given a chat (with or without spoilers enabled) where Bob's socket is subscribed
    chat_id: str = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    if enabled:
        install(api, alice, chat_id, "spoilers", hide_for=[bob.user_id])
    connections = root.connections()
    connections.add_connection("bob-1", user_id=bob.user_id, name="Bob", now=datetime.now(UTC))
    connections.subscribe("bob-1", chat_id, user_id=bob.user_id, now=datetime.now(UTC))
    chats, pusher = CountingChats(), InMemoryPusher()
    broadcaster = Broadcaster(
        connections, chats, pusher, read_filters=ReadFilters(chats, root.registry().all, root.hook_runner())
    )
    api.send(alice, chat_id, SPOILER)
    items = api.get(f"/chats/{chat_id}/events", alice, query={"limit": 200}).json["items"]
    stored = next(i for i in items if i["event_type"] == "MessageStored")
    detail = {"metadata": stored["metadata"], "data": stored["data"]}
    broadcaster.broadcast(parse_detail(detail))  # the roster is cached from here on
    chats.loads = chats.verdict_reads = 0

    # When the broadcaster pushes the message again
    broadcaster.broadcast(parse_detail(detail))

    # Then only a chat with a read filter costs a chat load and a verdict read (from the cache now)
    assert (chats.loads, chats.verdict_reads) == ((1, 1) if enabled else (0, 0))
    [frame] = [json.loads(f) for f in pusher.frames["bob-1"]][-1:]
    assert frame["data"]["message"]["text"] == (MASKED if enabled else SPOILER)


def test_the_chat_list_previews_the_last_message_as_each_viewer_reads_it(
    api: Api, bus: Bus, alice: User, bob: User, carol: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spoiler as the last message of a chat where Bob opted in to hiding spoilers
    chat_id = spoiler_chat(api, bus, alice, bob, carol)
    assert api.send(alice, chat_id, SPOILER).status == 201
    bus.pump()

    def previewed(user: User) -> dict[str, Any]:
        response = api.get("/chats", user)
        assert response.status == 200, response.text
        [item] = [c for c in response.json["items"] if c["chat_id"] == chat_id]
        last: dict[str, Any] = item["last_message"]
        return last

    # Then Bob's chat list shows it masked, as his history does; Alice's shows it whole
    bob_sees = previewed(bob)
    assert (bob_sees["text"], bob_sees.get("filtered")) == (MASKED, "rewritten")
    assert SPOILER not in json.dumps(bob_sees)
    alice_sees = previewed(alice)
    assert (alice_sees["text"], alice_sees.get("filtered")) == (SPOILER, None)

    # And a chat with no read filter lists at no extra read: no message loaded, no verdict looked up
    plain: str = api.create_chat(alice)["chat_id"]
    assert api.send(alice, plain, "hello").status == 201
    bus.pump()
    loads: list[str] = []
    verdict_reads: list[str] = []
    message, read_verdicts = ChatRepository.message, ChatRepository.read_verdicts

    def counted_message(self: ChatRepository, chat_id: str, sequence: int) -> Any:
        loads.append(chat_id)
        return message(self, chat_id, sequence)

    def counted_verdicts(self: ChatRepository, chat_id: str, versions: Sequence[MessageKey]) -> Any:
        verdict_reads.append(chat_id)
        return read_verdicts(self, chat_id, versions)

    monkeypatch.setattr(ChatRepository, "message", counted_message)
    monkeypatch.setattr(ChatRepository, "read_verdicts", counted_verdicts)
    response = api.get("/chats", alice)
    [item] = [c for c in response.json["items"] if c["chat_id"] == plain]
    assert item["last_message"]["text"] == "hello"
    assert plain not in loads + verdict_reads
    assert chat_id in loads  # the filtered chat's preview was read through its filter
