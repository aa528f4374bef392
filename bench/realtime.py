"""Local real-time benchmark: POST-to-push latency, sustained throughput and fan-out on the local stack.

Runs the real local stack in a subprocess (as `make dev` does), then measures over real HTTP and
WebSocket. Machines here are shared and noisy: read the numbers as orders of magnitude, and as
ratios within one run. ``python -m bench --only local`` runs just this part.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.stats import median, percentile
from tests.support.stack import Client, Socket, running_stack

SUSTAINED_CHATS = 10
IN_FLIGHT = 4
"""Posts a chat's poster may have waiting for their push: enough to keep every stage busy, and a
bound on the backlog, so the rate measured is what the stack delivers, not what it queues."""
TARGET_RATE = 25.0
"""Posts per second offered in the paced run, the local stack's target (issue 13)."""
PACED_BACKLOG = 50
"""Paced posts a chat may have waiting for their push before its poster holds off (a guard: when
the stack cannot keep up, the rate achieved falls short of the one offered and says so)."""
CPU_POSTS = 300
"""Posts of the fixed workload whose CPU time per post ``cpu_per_post`` reports."""


def is_message(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "MessageStored" and f["data"]["message"]["text"] == text


def _discard(socket: Socket) -> None:
    """Read what the poster's own socket got: unread frames would fill its queue, and a full queue
    stops the client reading the server's pongs (a keepalive timeout closes the socket)."""
    socket.frames.clear()
    while True:
        try:
            socket.connection.recv(timeout=0)
        except TimeoutError:
            return


def post_to_push_latency(base: str, messages: int, progress: Callable[[str], None] = print) -> list[float]:
    """Alice posts over HTTP; the time until Bob's socket has the MessageStored frame."""
    alice, bob = Client.sign_in(base, "Alice"), Client.sign_in(base, "Bob")
    chat_id = alice.create_chat(title="latency", settings={"rate_limit_messages": 10_000})
    bob.join(chat_id)
    a, b = alice.socket(), bob.socket()
    a.request("Subscribed", action="subscribe", chat_id=chat_id)
    b.request("Subscribed", action="subscribe", chat_id=chat_id)
    samples = []
    for n in range(messages):
        text = f"m{n}"
        started = time.perf_counter()
        alice.post(chat_id, text)
        b.wait_for(is_message(text))
        samples.append((time.perf_counter() - started) * 1000)
        _discard(a)
        if (n + 1) % 100 == 0:
            progress(f"  local latency: {n + 1}/{messages} messages")
    a.close()
    b.close()
    return samples


# -- sustained load -----------------------------------------------------------------------------------


@dataclass
class _Chat:
    chat_id: str
    poster: Client
    sent: dict[str, float] = field(default_factory=dict)
    """text -> perf_counter when its POST was sent (only posts that got 201)."""
    seen: dict[str, float] = field(default_factory=dict)
    """text -> perf_counter when the reader's socket had it."""
    refused: dict[int, int] = field(default_factory=dict)
    """HTTP status -> count of posts that did not get 201."""


def _post(client: Client, chat_id: str, text: str) -> int:
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(
        f"{client.base}/chats/{chat_id}/messages",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {client.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def _open(client: Client, chat_id: str) -> ClientConnection:
    ticket = await asyncio.to_thread(client.ticket_url)
    connection = await connect(ticket, open_timeout=60, max_queue=None)
    await connection.send(json.dumps({"action": "subscribe", "chat_id": chat_id}))
    reply = json.loads(await connection.recv())
    while reply["type"] == "PresenceChanged":  # who is online may be pushed before the reply
        reply = json.loads(await connection.recv())
    if reply["type"] != "Subscribed":
        raise RuntimeError(f"subscribe failed: {reply}")
    return connection


async def _sustained(
    base: str, seconds: float, progress: Callable[[str], None], rate: float | None = None
) -> dict[str, Any]:
    """Closed loop (``rate`` None): each chat keeps IN_FLIGHT posts waiting, so the rate is the
    stack's capacity and the latency is mostly queueing (Little's law: 40 in flight / rate).
    Paced (``rate`` posts/s in all, spread evenly over the chats): latency under that load."""
    load = await _open_load(base)
    readers = [asyncio.create_task(_receive(load, i)) for i in range(len(load.sockets))]
    started = await _drive(load, seconds, progress, rate)
    expected = sum(len(chat.sent) for chat, _ in load.sockets)
    await _drain(load, expected)
    # the rate is posts over the time until the last push arrived: what was delivered, not queued
    last = max((t for a in load.arrivals for t in a.values()), default=time.perf_counter())
    duration = last - started
    for _, connection in load.sockets:
        await connection.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return _summary(load, rate, duration, expected)


@dataclass
class _Load:
    """One load run: its chats, every socket (the poster's and the reader's of each chat), and when
    each socket had each post of this run (by text)."""

    chats: list[_Chat]
    sockets: list[tuple[_Chat, ClientConnection]]
    is_reader: list[bool]
    """per socket: the chat's reader (its arrivals are the chat's ``seen``), not its poster."""
    prefix: str = field(default_factory=lambda: f"load-{uuid.uuid4().hex[:6]}-")
    """starts every text posted in this run, so frames of earlier runs are not counted."""
    arrivals: list[dict[str, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.arrivals = [{} for _ in self.sockets]


async def _open_load(base: str) -> _Load:
    """SUSTAINED_CHATS chats, each with a poster and a reader, both subscribed over a socket."""
    chats: list[_Chat] = []
    sockets: list[tuple[_Chat, ClientConnection]] = []
    is_reader: list[bool] = []
    for i in range(SUSTAINED_CHATS):
        poster, reader = Client.sign_in(base, f"Poster{i}"), Client.sign_in(base, f"Reader{i}")
        chat_id = poster.create_chat(title=f"load {i}", settings={"rate_limit_messages": 10_000})
        reader.join(chat_id)
        chat = _Chat(chat_id, poster)
        chats.append(chat)
        for client in (poster, reader):
            sockets.append((chat, await _open(client, chat_id)))
            is_reader.append(client is reader)
    return _Load(chats, sockets, is_reader)


async def _receive(load: _Load, index: int) -> None:
    """Note when socket ``index`` first had each post of this run, until its socket is closed."""
    chat, connection = load.sockets[index]
    try:
        async for raw in connection:
            frame: dict[str, Any] = json.loads(raw)
            if frame.get("type") != "MessageStored":
                continue
            text = frame["data"]["message"]["text"]
            if text.startswith(load.prefix):
                now = time.perf_counter()
                load.arrivals[index].setdefault(text, now)
                if load.is_reader[index]:
                    chat.seen.setdefault(text, now)
    except Exception:  # closed at the end
        return


@dataclass(frozen=True)
class _Pace:
    """How the posters send: closed loop (``rate`` None: a chat holds off at IN_FLIGHT posts
    waiting for their push) or paced (a chat's turn every ``every`` s, with a PACED_BACKLOG guard)."""

    rate: float | None

    @property
    def every(self) -> float:
        return SUSTAINED_CHATS / self.rate if self.rate else 0.0

    @property
    def limit(self) -> int:
        return PACED_BACKLOG if self.rate else IN_FLIGHT


async def _drive(load: _Load, seconds: float, progress: Callable[[str], None], rate: float | None) -> float:
    """Post from one thread per chat for ``seconds`` (HTTP posts block), reporting progress every
    10 s; returns when posting started (the run's time origin)."""
    pace, stop = _Pace(rate), threading.Event()
    started = time.perf_counter()
    posters = [
        threading.Thread(
            target=_post_loop,
            args=(chat, load.prefix, pace, started + i * pace.every / SUSTAINED_CHATS, stop),
            daemon=True,
        )
        for i, chat in enumerate(load.chats)
    ]
    for thread in posters:
        thread.start()
    while (elapsed := time.perf_counter() - started) < seconds:
        await asyncio.sleep(min(10.0, seconds - elapsed))
        done = sum(len(c.sent) for c in load.chats)
        label = f"paced at {rate:g}/s" if rate else "sustained"
        progress(f"  local {label}: {time.perf_counter() - started:.0f}/{seconds:.0f} s, {done} posts")
    stop.set()
    for thread in posters:
        await asyncio.to_thread(thread.join)
    return started


def _post_loop(chat: _Chat, prefix: str, pace: _Pace, first: float, stop: threading.Event) -> None:
    """Post to one chat until ``stop``: its n-th post at ``first + n * every`` when paced, and never
    with more than the pace's limit of posts still waiting for their push."""
    n = 0
    while not stop.is_set():
        if len(chat.sent) - len(chat.seen) >= pace.limit:
            time.sleep(0.002)
            continue
        if pace.rate:
            wait = first + n * pace.every - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        text = f"{prefix}{chat.chat_id[:8]}-{n}"
        sent_at = time.perf_counter()
        status = _post(chat.poster, chat.chat_id, text)
        if status == 201:
            chat.sent[text] = sent_at
        else:
            chat.refused[status] = chat.refused.get(status, 0) + 1
        n += 1


async def _drain(load: _Load, expected: int) -> None:
    """Wait (30 s at most) until the sockets have every push of the posts that were accepted."""
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        if sum(len(a) for a in load.arrivals) >= expected:
            return
        await asyncio.sleep(0.05)


def _summary(load: _Load, rate: float | None, duration: float, expected: int) -> dict[str, Any]:
    """The run's figures for results.json: rate delivered, pushes lost, refusals, push latency."""
    latencies = [
        (load.arrivals[i][text] - sent_at) * 1000
        for i, (chat, _) in enumerate(load.sockets)
        for text, sent_at in chat.sent.items()
        if text in load.arrivals[i]
    ]
    posts = sum(len(c.sent) for c in load.chats)
    received = sum(len(a) for a in load.arrivals)
    refused: dict[str, int] = {}
    for chat in load.chats:
        for status, count in chat.refused.items():
            refused[str(status)] = refused.get(str(status), 0) + count
    return {
        "chats": SUSTAINED_CHATS,
        "sockets": len(load.sockets),
        **({"offered_per_s": rate} if rate else {"in_flight_per_chat": IN_FLIGHT}),
        "seconds": round(duration, 1),
        "posts": posts,
        "msgs_per_s": round(posts / duration, 1),
        "pushes_expected": expected,
        "pushes_received": received,
        "lost_pushes": expected - received,
        "refused_posts": refused,
        "push_p50_ms": round(median(latencies), 1) if latencies else None,
        "push_p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
    }


# -- CPU per post -------------------------------------------------------------------------------------


def _cpu_seconds(base: str) -> dict[str, float | None]:
    with urllib.request.urlopen(f"{base}/local/cpu", timeout=10) as response:
        answer: dict[str, float | None] = json.loads(response.read())["cpu_seconds"]
        return answer


async def _cpu_per_post(base: str, posts: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """CPU ms per post of each of the stack's processes over a fixed workload: ``posts`` posts over
    SUSTAINED_CHATS chats, closed loop (IN_FLIGHT each), until every push arrived. CPU time, unlike
    wall time, barely moves with what else the machine runs."""
    load = await _open_load(base)
    readers = [asyncio.create_task(_receive(load, i)) for i in range(len(load.sockets))]
    before = await asyncio.to_thread(_cpu_seconds, base)
    each = max(1, posts // SUSTAINED_CHATS)
    threads = [
        threading.Thread(target=_post_some, args=(chat, load.prefix, each), daemon=True)
        for chat in load.chats
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join)
    sent = sum(len(c.sent) for c in load.chats)
    await _drain(load, sum(len(chat.sent) for chat, _ in load.sockets))
    after = await asyncio.to_thread(_cpu_seconds, base)
    for _, connection in load.sockets:
        await connection.close()
    await asyncio.gather(*readers, return_exceptions=True)
    per_post = {name: _per_post(start, after.get(name), sent) for name, start in before.items()}
    shown = ", ".join(f"{name} {ms} ms" for name, ms in per_post.items())
    progress(f"  local CPU per post over {sent} posts: {shown}")
    return {"posts": sent, "chats": SUSTAINED_CHATS, "in_flight_per_chat": IN_FLIGHT, **per_post}


def _per_post(before: float | None, after: float | None, posts: int) -> float | None:
    """CPU ms per post between two readings (None when a process could not be read)."""
    if before is None or after is None or not posts:
        return None
    return round((after - before) * 1000 / posts, 1)


def _post_some(chat: _Chat, prefix: str, count: int) -> None:
    """Post ``count`` times to one chat, never with more than IN_FLIGHT posts waiting for their push."""
    for n in range(count):
        while len(chat.sent) - len(chat.seen) >= IN_FLIGHT:
            time.sleep(0.002)
        text = f"{prefix}{chat.chat_id[:8]}-{n}"
        sent_at = time.perf_counter()
        status = _post(chat.poster, chat.chat_id, text)
        if status == 201:
            chat.sent[text] = sent_at
        else:
            chat.refused[status] = chat.refused.get(status, 0) + 1


# -- fan-out ------------------------------------------------------------------------------------------


async def _fanout(base: str, sockets: int, users: int, progress: Callable[[str], None]) -> float:
    owner = Client.sign_in(base, "Owner")
    chat_id = owner.create_chat(title=f"fan-out {sockets}")
    members = [Client.sign_in(base, f"U{i}") for i in range(users)]
    for member in members:
        member.join(chat_id)
    connections: list[ClientConnection] = []
    batch = 50
    for start in range(0, sockets, batch):
        opened = await asyncio.gather(
            *(_open(members[i % users], chat_id) for i in range(start, min(sockets, start + batch)))
        )
        connections.extend(opened)
        if len(connections) % 250 == 0 or len(connections) == sockets:
            progress(f"  local fan-out {sockets}: {len(connections)} sockets open")
    marker = f"fanout-{uuid.uuid4().hex[:6]}"

    async def receive(connection: ClientConnection) -> float:
        while True:
            frame: dict[str, Any] = json.loads(await connection.recv())
            if frame["type"] == "MessageStored" and frame["data"]["message"]["text"] == marker:
                return time.perf_counter()

    waiters = [asyncio.create_task(receive(c)) for c in connections]
    started = time.perf_counter()
    await asyncio.to_thread(owner.post, chat_id, marker)
    arrivals = await asyncio.wait_for(asyncio.gather(*waiters), timeout=120)
    elapsed = (max(arrivals) - started) * 1000
    await asyncio.gather(*(c.close() for c in connections))
    return elapsed


def run(
    *,
    messages: int = 500,
    sustain_seconds: float = 60.0,
    rate: float = TARGET_RATE,
    fanout: tuple[int, ...] = (100, 1000),
    cpu_posts: int = CPU_POSTS,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The ``local`` section of results.json."""
    with running_stack() as base:
        progress(f"  local stack at {base}")
        latency = post_to_push_latency(base, messages, progress) if messages else []
        cpu = asyncio.run(_cpu_per_post(base, cpu_posts, progress)) if cpu_posts else None
        sustained = asyncio.run(_sustained(base, sustain_seconds, progress)) if sustain_seconds else None
        paced = (
            asyncio.run(_sustained(base, sustain_seconds, progress, rate))
            if sustain_seconds and rate
            else None
        )
        fanout_ms = {}
        for n in fanout:
            fanout_ms[str(n)] = round(asyncio.run(_fanout(base, n, min(10, n), progress)), 1)
            progress(f"  local fan-out {n}: last socket had it after {fanout_ms[str(n)]} ms")
    local: dict[str, Any] = {"messages": messages}
    if latency:
        local["p50_ms"] = round(median(latency), 1)
        local["p99_ms"] = round(percentile(latency, 99), 1)
    if sustained:
        local["msgs_per_s"] = sustained["msgs_per_s"]
        local["lost_pushes"] = sustained["lost_pushes"]
        local["sustained"] = sustained
    if paced:
        local["paced"] = paced
    if cpu:
        local["cpu_ms_per_post"] = cpu
    local["fanout_ms"] = fanout_ms
    return local


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["--only", "local"]))
