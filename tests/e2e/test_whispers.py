"""Whispers on the real local stack, three people over HTTP and WebSocket: a whisper from Alice to Bob
reaches Bob; Carol sees neither its text nor a gap (her live stream and /events carry a Withheld marker at
its sequence, her history skips it)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from parley.catalog import MessageStored
from parley_client import AsyncClient, Client, InvalidRequestError, LiveEvent, Withheld, local_token

SECRET = "meet me by the fountain"


def _client(stack: str, name: str) -> tuple[str, str]:
    user_id = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    return user_id, local_token(stack, user_id, name=name)


async def _until(stream: AsyncClient, chat_id: str, text: str, ready: asyncio.Event) -> list[LiveEvent]:
    got: list[LiveEvent] = []
    async with stream.live([chat_id]) as live:
        ready.set()
        async for event in live:
            got.append(event)
            if isinstance(event.data, MessageStored) and event.data.message.text == text:
                return got
    raise AssertionError("the stream ended")


def test_a_whisper_reaches_one_and_the_third_sees_neither_text_nor_gap(stack: str) -> None:
    # Given Alice's chat with Bob and Carol
    (_, alice_token), (bob_id, bob_token), (_, carol_token) = (
        _client(stack, n) for n in ("Alice", "Bob", "Carol")
    )
    alice = Client(stack, token=alice_token)
    chat = alice.create_chat("whispers")
    for token in (bob_token, carol_token):
        Client(stack, token=token).join(chat.chat_id)

    async def scenario() -> tuple[list[LiveEvent], list[LiveEvent]]:
        # one at a time, each subscribed before Alice posts (a local gateway without per-thread
        # request state, before main's 2957695, could swap concurrent callers' identities)
        streams = []
        for token in (bob_token, carol_token):
            ready = asyncio.Event()
            streams.append(
                asyncio.create_task(_until(AsyncClient(stack, token=token), chat.chat_id, "after", ready))
            )
            await asyncio.wait_for(ready.wait(), 30)
        # When Alice whispers to Bob, then posts to everyone
        sender = AsyncClient(stack, token=alice_token)
        whisper = await sender.send(chat.chat_id, SECRET, to=[bob_id])
        assert whisper.to == (bob_id,)
        await sender.send(chat.chat_id, "after")
        return await asyncio.wait_for(streams[0], 60), await asyncio.wait_for(streams[1], 60)

    bobs, carols = asyncio.run(scenario())

    # Then Bob's stream carries the whisper
    texts = [e.data.message.text for e in bobs if isinstance(e.data, MessageStored)]
    assert texts == [SECRET, "after"]
    whisper_seq = next(e.sequence or 0 for e in bobs if isinstance(e.data, MessageStored))
    # And Carol's carries, at the same sequence, a Withheld marker with no content, and no gap around it
    marker = next(e for e in carols if e.sequence == whisper_seq)
    assert isinstance(marker.data, Withheld)
    assert marker.to_json() == {
        "type": "Withheld",
        "chat_id": chat.chat_id,
        "sequence": whisper_seq,
        "data": {},
    }
    assert [e.sequence for e in carols if (e.sequence or 0) >= whisper_seq] == [whisper_seq, whisper_seq + 1]
    assert SECRET not in json.dumps([e.to_json() for e in carols])
    carol = Client(stack, token=carol_token)
    # And her event log has the marker in its place; her history skips the whisper
    items = carol.event_page(chat.chat_id, after=whisper_seq - 1, limit=1).items
    assert [(i.event_type, i.sequence, i.data, i.event_id) for i in items] == [
        ("Withheld", whisper_seq, {}, None)
    ]
    assert [m.text for m in carol.history(chat.chat_id)] == ["after"]
    bob = Client(stack, token=bob_token)
    assert [m.text for m in bob.history(chat.chat_id)] == [SECRET, "after"]
    # And only Bob counts it unread
    assert {c.chat_id: c.unread for c in carol.chats()}[chat.chat_id] == 1
    assert {c.chat_id: c.unread for c in bob.chats()}[chat.chat_id] == 2


def test_a_whisper_to_a_non_member_is_refused_naming_to(stack: str) -> None:
    _, token = _client(stack, "Dana")
    client = Client(stack, token=token)
    chat = client.create_chat("refused whisper")
    with pytest.raises(InvalidRequestError) as refused:
        client.send(chat.chat_id, "psst", to=["someone-else"])
    assert [f["field"] for f in refused.value.fields] == ["to"]
    assert client.messages(chat.chat_id).items == []
