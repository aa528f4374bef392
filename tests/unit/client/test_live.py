"""The live stream's promise: every client-visible event once, in sequence order, whatever the socket
does (drops, duplicates, frames lost or out of order, a capped replay)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from parley.catalog import (
    AIResponseChunk,
    AIResponseCompleted,
    AIResponseStarted,
    Envelope,
    EphemeralMessage,
    EventData,
    MessageStored,
    Withheld,
    new_event,
)
from parley.realtime.frames import withheld_frame
from parley_client import AsyncClient, LiveError
from parley_client.live import Live
from parley_client.models import LiveEvent
from tests.unit.client.fakes import ALICE, CHAT, FakeApi, FakeGateway, FakeSocket, frame, typing_frame


def setup(api: FakeApi, gateway: FakeGateway | None = None) -> tuple[AsyncClient, FakeGateway]:
    gateway = gateway or FakeGateway(api)
    return AsyncClient("http://fake", token="t", transport=api, connect=gateway.connect), gateway


async def take(live: Live, count: int) -> list[LiveEvent]:
    taken: list[LiveEvent] = []
    async for event in live:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=10))


def visible(api: FakeApi, after: int = 0) -> list[int]:
    return [
        e.metadata.sequence or 0
        for e in api.log
        if (e.metadata.sequence or 0) > after and e.event_type != "AIResponseRequested"
    ]


def test_a_frame_that_skips_ahead_fills_the_gap_from_the_event_log_first() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        async with client.live([CHAT]) as live:
            socket = gateway.sockets[0]
            first, lost, third = api.message("a"), api.message("b"), api.message("c")
            # Given frame 2 never arrives
            socket.push(frame(first))
            socket.push(frame(third))
            socket.push(frame(lost))  # late, after it was fetched: a duplicate now
            fourth = api.message("d")
            socket.push(frame(fourth))
            got = await take(live, 4)
        assert [e.sequence for e in got] == [1, 2, 3, 4]
        assert live.stats.gaps == 1
        assert live.stats.duplicates == 1
        assert live.stats.fetched == 1
        assert isinstance(got[1].data, type(lost.data))
        assert got[1].event_id == lost.metadata.event_id

    run(scenario)


def test_a_skip_over_events_never_pushed_delivers_nothing_extra() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        async with client.live([CHAT]) as live:
            api.unseen()
            message = api.message("a")
            gateway.sockets[0].push(frame(message))
            got = await take(live, 1)
        assert [e.sequence for e in got] == [2]
        assert live.stats.fetched == 0

    run(scenario)


def test_after_a_drop_it_reconnects_and_resumes_after_the_last_sequence() -> None:
    async def scenario() -> None:
        api = FakeApi()
        api.joined("bob")
        client, gateway = setup(api)
        async with client.live([CHAT]) as live:
            first = gateway.sockets[0]
            first.push(frame(api.message("a")))
            assert [e.sequence for e in await take(live, 1)] == [2]
            # Given the socket drops, and two messages are stored meanwhile
            first.drop()
            api.message("b")
            api.message("c")
            got = await take(live, 2)
        # Then the second socket subscribed after 2 and the replay brought 3 and 4, once each
        assert [e.sequence for e in got] == [3, 4]
        assert gateway.sockets[1].sent[0] == {"action": "subscribe", "chat_id": CHAT, "after_sequence": 2}
        assert live.stats.connects == 2

    run(scenario)


@pytest.mark.parametrize("extra", [{"complete": False, "replayed_through": 1}, {}])
def test_a_replay_cut_short_is_completed_from_the_event_log(extra: dict[str, object]) -> None:
    async def scenario() -> None:
        api = FakeApi()
        for text in "abcde":
            api.message(text)
        # Given a server that replays nothing before Subscribed (capped, or the frames are late)
        client, _ = setup(api, FakeGateway(api, replay=False, subscribed_extra=extra))
        async with client.live([CHAT], after=1) as live:
            got = await take(live, 4)
        assert [e.sequence for e in got] == [2, 3, 4, 5]  # three pages of /events (page size 3)

    run(scenario)


def test_a_replay_then_the_same_frames_live_are_delivered_once() -> None:
    async def scenario() -> None:
        api = FakeApi()
        messages = [api.message(t) for t in "abc"]
        client, gateway = setup(api)
        async with client.live([CHAT], after=0) as live:
            for message in messages:
                gateway.sockets[0].push(frame(message))  # the broadcaster's copies arrive too
            gateway.sockets[0].push(frame(api.message("d")))
            got = await take(live, 4)
        assert [e.sequence for e in got] == [1, 2, 3, 4]
        assert live.stats.duplicates == 3

    run(scenario)


def test_ephemeral_events_pass_through_once() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        typing = typing_frame()
        async with client.live([CHAT]) as live:
            gateway.sockets[0].push(frame(typing))
            gateway.sockets[0].push(frame(typing))
            gateway.sockets[0].push(frame(api.message("a")))
            got = await take(live, 2)
        assert [(e.type, e.sequence) for e in got] == [("TypingStarted", None), ("MessageStored", 1)]

    run(scenario)


def test_an_ephemeral_message_is_typed_and_never_counted_as_a_gap() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        whisper = EphemeralMessage(
            message_id="req-1",
            participant_id="alice",
            sender_id="ext:welcome",
            sender_name="Welcome bot",
            sender_kind="extension",
            extension_id="welcome",
            text="only you",
        )
        envelope: Envelope[EventData] = new_event(whisper, chat_id=CHAT, actor=ALICE)
        async with client.live([CHAT]) as live:
            socket = gateway.sockets[0]
            socket.push(frame(api.message("a")))
            socket.push(frame(envelope))
            socket.push(frame(envelope))  # a retried push: the same event id
            socket.push(frame(api.message("b")))
            got = await take(live, 3)
        assert [(e.type, e.sequence, e.ephemeral) for e in got] == [
            ("MessageStored", 1, False),
            ("EphemeralMessage", None, True),
            ("MessageStored", 2, False),
        ]
        assert isinstance(got[1].data, EphemeralMessage)
        assert got[1].data.text == "only you"
        assert (live.stats.gaps, live.stats.fetched, live.stats.duplicates) == (0, 0, 1)

    run(scenario)


def test_a_refused_subscription_is_a_live_error_with_the_servers_code() -> None:
    async def scenario() -> None:
        api = FakeApi()
        gateway = FakeGateway(api)

        def refuse(socket: object, action: dict[str, object]) -> None:
            error = {"code": "not_found", "message": "no such chat", "action": "subscribe"}
            gateway.sockets[-1].push(json.dumps({"type": "Error", "chat_id": CHAT, "data": error}))

        async def connect(url: str) -> object:
            socket = await FakeGateway.connect(gateway, url)
            socket.on_send = refuse
            return socket

        client = AsyncClient("http://fake", token="t", transport=api, connect=connect)  # type: ignore[arg-type]
        with pytest.raises(LiveError) as raised:
            async with client.live([CHAT]):
                pass
        assert raised.value.code == "not_found"

    run(scenario)


def ai(data: EventData) -> Envelope[EventData]:
    return new_event(data, chat_id=CHAT, actor=ALICE)


def test_an_ai_reply_streams_its_chunks_in_order_and_keeps_other_events() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        chunks = [
            AIResponseChunk(request_id="r1", participant_id="bot", index=i, text=t)
            for i, t in enumerate("abc")
        ]
        async with client.live([CHAT]) as live:
            socket = gateway.sockets[0]
            socket.push(frame(ai(AIResponseStarted(request_id="r1", participant_id="bot", model="m"))))
            socket.push(frame(ai(chunks[1])))
            socket.push(frame(api.message("meanwhile")))
            socket.push(frame(ai(chunks[0])))
            socket.push(frame(ai(chunks[2])))
            completed = AIResponseCompleted(
                request_id="r1",
                participant_id="bot",
                message_id="m",
                message_sequence=2,
                time_to_first_token_ms=1,
                duration_ms=2,
                input_tokens=1,
                output_tokens=1,
            )
            socket.push(frame(api.append(completed)))
            text = "".join([c.text async for c in live.ai_reply()])
            rest = await take(live, 1)
        assert text == "abc"
        assert [e.type for e in rest] == ["MessageStored"]

    run(scenario)


def test_an_idle_socket_is_pinged() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        live = client.live([CHAT], keepalive=0.05)
        async with live:
            socket = gateway.sockets[0]
            waiting = asyncio.create_task(take(live, 1))
            await asyncio.sleep(0.2)
            socket.push(frame(api.message("a")))
            await waiting
        assert {"action": "ping"} in socket.sent

    run(scenario)


def test_it_gives_up_after_the_bounded_reconnects() -> None:
    async def scenario() -> None:
        api = FakeApi()
        attempts: list[str] = []

        async def refuse(url: str) -> FakeSocket:
            attempts.append(url)
            raise ConnectionRefusedError("nobody listens")

        client = AsyncClient("http://fake", token="t", transport=api, connect=refuse)
        with pytest.raises(LiveError, match="could not reconnect"):
            async with client.live([CHAT], max_reconnects=2):
                pass
        assert len(attempts) == 3

    run(scenario)


def test_a_frame_this_client_cannot_read_is_skipped_without_a_gap() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        async with client.live([CHAT]) as live:
            api.message("from a newer server")
            unreadable = {"type": "MessageStored", "chat_id": CHAT, "sequence": 1, "data": {"new": "shape"}}
            gateway.sockets[0].push(json.dumps(unreadable))
            gateway.sockets[0].push(frame(api.message("b")))
            got = await take(live, 1)
        assert [e.sequence for e in got] == [2]
        assert live.stats.gaps == 0

    run(scenario)


def test_sockets_cut_mid_replay_still_make_progress_past_the_reconnect_bound() -> None:
    async def scenario() -> None:
        api = FakeApi()
        for text in "abcde":
            api.message(text)
        # Given every socket is cut after one replayed frame, five times over, and a bound of one
        client, gateway = setup(api, FakeGateway(api, cut_replay_after=1))
        async with client.live([CHAT], after=0, max_reconnects=1) as live:
            got = await take(live, 5)
        assert [e.sequence for e in got] == [1, 2, 3, 4, 5]
        assert len(gateway.sockets) == 5  # four cut mid-replay, the fifth had one frame left

    run(scenario)


def test_two_replies_at_once_each_stream_whole() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)

        def chunk(request: str, index: int) -> Envelope[EventData]:
            return ai(
                AIResponseChunk(
                    request_id=request, participant_id=request, index=index, text=f"{request}{index}"
                )
            )

        def done(request: str) -> Envelope[EventData]:
            return api.append(
                AIResponseCompleted(
                    request_id=request,
                    participant_id=request,
                    message_id=request,
                    message_sequence=1,
                    time_to_first_token_ms=1,
                    duration_ms=2,
                    input_tokens=1,
                    output_tokens=1,
                )
            )

        async with client.live([CHAT]) as live:
            socket = gateway.sockets[0]
            for envelope in (
                chunk("a", 0),
                chunk("b", 0),
                chunk("a", 1),
                chunk("b", 1),
                done("a"),
                done("b"),
            ):
                socket.push(frame(envelope))
            first = [c.text async for c in live.ai_reply()]
            second = [c.text async for c in live.ai_reply()]
        assert first == ["a0", "a1"]
        assert second == ["b0", "b1"]

    run(scenario)


def test_a_whisper_to_others_is_a_withheld_marker_live_and_in_a_gap_fill() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, gateway = setup(api)
        async with client.live([CHAT]) as live:
            socket = gateway.sockets[0]
            # Given a whisper between others pushed as its marker, then one whose marker was lost
            pushed = api.whisper_to_others()
            socket.push(withheld_frame(CHAT, pushed.metadata.sequence or 0).encode().decode())
            api.whisper_to_others()
            after = api.message("public")
            socket.push(frame(after))
            got = await take(live, 3)
        # Then each comes as a typed Withheld event at its place, the lost one fetched from the log
        assert [(e.type, e.sequence) for e in got] == [("Withheld", 1), ("Withheld", 2), ("MessageStored", 3)]
        assert all(isinstance(e.data, Withheld) and e.event_id is None for e in got[:2])
        assert live.stats.gaps == 1
        assert "not for you" not in json.dumps([e.to_json() for e in got[:2]])

    run(scenario)


# -- the sender's own posts: no echo push, the answer's frame in its place (issue 15, B1) ----------


def test_a_post_while_live_names_the_socket_and_the_stream_yields_the_answers_copy_once() -> None:
    async def scenario() -> None:
        api = FakeApi(logged_posts=True)
        client, _ = setup(api)
        async with client.live([CHAT]) as live:
            # When Alice sends while her stream is subscribed (the server pushes it to no socket of hers)
            sent = await client.send(CHAT, "mine")
            got = await take(live, 1)
        # Then the post named her socket, and the stream yielded her message once, from the answer
        assert api.origins == ["sock-1"]
        assert [(e.type, e.sequence) for e in got] == [("MessageStored", 1)]
        assert got[0].event_id == api.log[0].metadata.event_id
        assert isinstance(got[0].data, MessageStored)
        assert got[0].data.message.message_id == sent.message_id
        assert (live.stats.gaps, live.stats.fetched) == (0, 0)

    run(scenario)


def test_a_frame_still_on_its_way_comes_before_the_own_post_after_it() -> None:
    async def scenario() -> None:
        api = FakeApi(logged_posts=True)
        client, gateway = setup(api)
        async with client.live([CHAT]) as live:
            # Given Bob's message (1) stored and pushed, but not yet read off the socket
            bobs = api.message("from bob")
            gateway.sockets[0].push(frame(bobs))
            # When Alice's own post (2) is answered first
            await client.send(CHAT, "mine")
            # and the push of a later message (3) arrives, and the socket repeats 2 (a replay)
            later = api.message("later")
            gateway.sockets[0].push(frame(api.log[1]))
            gateway.sockets[0].push(frame(later))
            got = await take(live, 3)
        # Then each comes once, in sequence order, without reading the log
        assert [e.sequence for e in got] == [1, 2, 3]
        assert live.stats.fetched == 0

    run(scenario)


def test_send_with_to_posts_a_whisper() -> None:
    async def scenario() -> None:
        api = FakeApi()
        client, _ = setup(api)
        await client.send(CHAT, "psst", to=["bob"])
        (method, path, body) = api.requests[-1]
        assert (method, path, body["to"]) == ("POST", f"/chats/{CHAT}/messages", ["bob"])
        await client.send(CHAT, "hello")
        assert "to" not in api.requests[-1][2]

    run(scenario)


def test_a_send_without_a_live_stream_names_no_socket() -> None:
    async def scenario() -> None:
        api = FakeApi(logged_posts=True)
        client, _ = setup(api)
        await client.send(CHAT, "no stream")
        async with client.live([CHAT], after=1) as live:
            await live.aclose()
        await client.send(CHAT, "stream closed")
        assert api.origins == [None, None]

    run(scenario)
