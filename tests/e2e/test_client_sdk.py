"""parley_client against the real local stack: every route typed, sends stored once, and a live stream
that delivers each event once and in order through a dropped socket and a lost frame."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from parley.catalog import CLIENT_VISIBLE, MessageStored
from parley_client import (
    AsyncClient,
    Client,
    ForbiddenError,
    InvalidRequestError,
    Live,
    LiveEvent,
    NotFoundError,
    local_token,
)
from parley_client.live import Socket, connect_websocket

T = TypeVar("T")


def signed_in(stack: str, name: str, *groups: str) -> tuple[str, str]:
    user_id = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    return user_id, local_token(stack, user_id, name=name, groups=groups)


def faults(stack: str, method: str, body: dict[str, Any] | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{stack}/local/faults", data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), timeout))


async def until_message(live: Live, text: str) -> list[LiveEvent]:
    """Everything the stream delivers up to and including the MessageStored carrying ``text``."""
    got: list[LiveEvent] = []
    async for event in live:
        got.append(event)
        if isinstance(event.data, MessageStored) and event.data.message.text == text:
            return got
    raise AssertionError("the stream ended")


def assert_each_event_once_in_order(client: Client, chat_id: str, got: list[LiveEvent], after: int) -> None:
    """The sequenced events delivered are exactly the chat's client-visible log after ``after``."""
    delivered = [e.sequence for e in got if e.sequence is not None]
    last = delivered[-1]
    logged = [
        e.metadata.sequence
        for e in client.events(chat_id, after=after)
        if e.event_type in CLIENT_VISIBLE and (e.metadata.sequence or 0) <= last
    ]
    assert delivered == logged
    assert delivered == sorted(set(delivered))


DROPS = {
    "rules": [
        # the gateway closes the socket instead of pushing: the first three pushes (replays included),
        # so a drop happens whatever the threads' order (at rate 0.3 some runs dropped none)
        {"point": "push.gone", "rate": 1.0, "count": 3},
        {"point": "deliver.duplicate", "rate": 0.3},  # the broadcaster pushes an event twice
        {"point": "deliver.reorder", "rate": 0.3},  # ... or a batch out of order
    ],
    "seed": 17,
}


def test_dropped_sockets_are_resumed_and_every_event_arrives_once_in_order(stack: str) -> None:
    _, token = signed_in(stack, "Ada")
    client = Client(stack, token=token)
    chat = client.create_chat("drops")

    async def scenario() -> tuple[list[LiveEvent], Live]:
        async with AsyncClient(stack, token=token).live([chat.chat_id]) as live:
            # Given the gateway drops sockets at pushes (replays included), and events come twice
            faults(stack, "PUT", DROPS)
            try:
                for n in range(8):
                    await asyncio.to_thread(client.send, chat.chat_id, f"m{n}")
                got = await until_message(live, "m7")
            finally:
                faults(stack, "DELETE")
            return got, live

    got, live = run(scenario, timeout=120)
    # Then it reconnected, resumed with after_sequence, and nothing is missing or doubled
    assert live.stats.connects >= 2
    texts = [e.data.message.text for e in got if isinstance(e.data, MessageStored)]
    assert texts == [f"m{n}" for n in range(8)]
    assert_each_event_once_in_order(client, chat.chat_id, got, chat.last_event_sequence)


class LosesOneFrame:
    """A socket that silently loses the first frame carrying ``text``, as a flaky network would."""

    def __init__(self, inner: Socket, text: str) -> None:
        self.inner, self.text, self.lost = inner, text, 0

    async def recv(self) -> str | bytes:
        while True:
            raw = await self.inner.recv()
            if not self.lost and f'"text":"{self.text}"' in str(raw):
                self.lost += 1
                continue
            return raw

    async def send(self, message: str) -> None:
        await self.inner.send(message)

    async def close(self) -> None:
        await self.inner.close()


def test_a_lost_frame_is_fetched_from_the_event_log_before_the_next_one(stack: str) -> None:
    _, token = signed_in(stack, "Ada")
    client = Client(stack, token=token)
    chat = client.create_chat("gaps")
    sockets: list[LosesOneFrame] = []

    async def connect(url: str) -> Socket:
        sockets.append(LosesOneFrame(await connect_websocket(url), "m2"))
        return sockets[-1]

    async def scenario() -> tuple[list[LiveEvent], Live]:
        async with AsyncClient(stack, token=token, connect=connect).live([chat.chat_id]) as live:
            for n in range(5):
                await asyncio.to_thread(client.send, chat.chat_id, f"m{n}")
            return await until_message(live, "m4"), live

    got, live = run(scenario)
    assert sockets[0].lost == 1
    assert live.stats.gaps >= 1
    assert live.stats.fetched >= 1
    assert [e.data.message.text for e in got if isinstance(e.data, MessageStored)] == [
        f"m{n}" for n in range(5)
    ]
    assert_each_event_once_in_order(client, chat.chat_id, got, chat.last_event_sequence)


def test_an_ai_reply_streams_as_chunks_that_make_the_stored_message(stack: str) -> None:
    _, token = signed_in(stack, "Ada")
    client = AsyncClient(stack, token=token)

    async def scenario() -> tuple[str, str]:
        chat = await client.create_chat("ai", ai=["Echo"])
        async with client.live([chat.chat_id]) as live:
            await client.send(chat.chat_id, "hello @Echo")
            streamed = "".join([chunk.text async for chunk in live.ai_reply()])
        stored = [m async for m in client.history(chat.chat_id)][-1]
        assert stored.sender_kind == "ai"
        return streamed, stored.text

    streamed, stored = run(scenario)
    assert streamed == stored


def test_a_repeated_send_is_stored_once_and_history_pages_in_order(stack: str) -> None:
    _, token = signed_in(stack, "Ada")
    client = Client(stack, token=token)
    chat = client.create_chat("once")
    first = client.send(chat.chat_id, "only once", client_message_id="key-1")
    again = client.send(chat.chat_id, "only once", client_message_id="key-1")
    for n in range(4):
        client.send(chat.chat_id, f"n{n}")
    history = list(client.history(chat.chat_id, page_size=2))
    assert again.message_id == first.message_id
    assert [m.text for m in history] == ["only once", "n0", "n1", "n2", "n3"]
    assert [m.sequence for m in history] == [1, 2, 3, 4, 5]


def test_refusals_are_typed_errors_with_the_servers_code_and_fields(stack: str) -> None:
    _, ada = signed_in(stack, "Ada")
    _, bob = signed_in(stack, "Bob")
    owner, member = Client(stack, token=ada), Client(stack, token=bob)
    chat = owner.create_chat("refusals")
    member.join(chat.chat_id)
    with pytest.raises(ForbiddenError) as forbidden:
        member.change_settings(chat.chat_id, turn_mode="moderated")
    with pytest.raises(InvalidRequestError) as invalid:
        owner.create_chat(" ")
    with pytest.raises(NotFoundError) as missing:
        owner.chat(str(uuid.uuid4()))
    assert forbidden.value.status == 403
    assert invalid.value.code == "validation_error"
    assert invalid.value.fields
    assert missing.value.code == "chat_not_found"


def test_every_route_answers_with_the_servers_models(stack: str) -> None:
    _, ada = signed_in(stack, "Ada", "operators")
    bob_id, bob = signed_in(stack, "Bob")
    owner, member = Client(stack, token=ada), Client(stack, token=bob)
    assert owner.health().status == "ok"
    chat = owner.create_chat("routes", mode="moderated")
    assert member.join(chat.chat_id).chat_id == chat.chat_id
    assert chat.chat_id in {c.chat_id for c in owner.chats()}
    assert owner.change_settings(chat.chat_id, rate_limit_messages=50).settings.rate_limit_messages == 50
    assert owner.grant_turn(chat.chat_id, bob_id).turn.holder_id == bob_id
    member.send(chat.chat_id, "my turn")
    assert owner.messages(chat.chat_id, limit=1).items[0].text == "my turn"
    assert owner.event_page(chat.chat_id, limit=2).next is not None
    assert "welcome" in {e.id for e in owner.extensions()}
    installed = owner.put_install(chat.chat_id, "welcome", config={"template": "Hi {name}"})
    assert installed.config == {"template": "Hi {name}"}
    assert owner.install(chat.chat_id, "welcome").enabled
    assert "welcome" in {i.extension_id for i in owner.installs(chat.chat_id)}
    owner.uninstall(chat.chat_id, "welcome")
    assert owner.analytics(chat.chat_id).chat_id == chat.chat_id
    assert owner.analytics_csv(chat.chat_id).startswith("section,subject,metric,value")
    today = datetime.now(UTC).date()
    assert owner.analytics_summary(first=today, last=today) is not None
    assert owner.analytics_summary_csv(first=today, last=today).startswith("section,subject,metric,value")
    assert owner.ticket().url.startswith("ws")
    member.leave(chat.chat_id)
    assert owner.complete(chat.chat_id).status == "completed"


README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(r"<!-- example: sdk -->\n```python\n(?P<code>.*?)```", re.DOTALL)


def test_the_readme_example_runs_as_written(
    stack: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = EXAMPLE.search(README.read_text(encoding="utf-8"))
    assert found, "README.md has no `<!-- example: sdk -->` python block"
    code = found["code"]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10  # "a 10-line example"
    monkeypatch.setenv("PARLEY_URL", stack)
    exec(compile(code, "README.md:sdk", "exec"), {"__name__": "readme_sdk"})
    streamed, texts = capsys.readouterr().out.splitlines()
    assert streamed.startswith("Ada, you said")
    assert ast.literal_eval(texts) == ["hello @Echo", streamed]


def test_send_waits_out_the_rate_limit_as_told_and_stores_each_message_once(stack: str) -> None:
    _, token = signed_in(stack, "Ada")
    client = Client(stack, token=token)
    chat = client.create_chat("rate")
    # Given a chat that allows one message per 2 s
    client.change_settings(chat.chat_id, rate_limit_messages=1, rate_limit_window_seconds=2)
    waits: list[float] = []
    sleep = client.session.sleep

    def recorded(seconds: float) -> None:
        waits.append(seconds)
        sleep(seconds)

    client.session.sleep = recorded

    # When three are sent back to back
    sent = [client.send(chat.chat_id, f"r{n}") for n in range(3)]

    # Then each 429's Retry-After was slept, and each message is stored once, in order
    assert waits
    assert all(0 < w <= 2 for w in waits)
    assert [m.sequence for m in sent] == [1, 2, 3]
    assert [m.text for m in client.history(chat.chat_id)] == ["r0", "r1", "r2"]
