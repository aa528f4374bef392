"""Local real-time benchmark: POST-to-push latency and fan-out time on the local stack.

Runs the real local stack in a subprocess (as `make dev` does), then measures over real HTTP and
WebSocket. Machines here are shared and noisy: read the numbers as ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support.stack import Client, running_stack

RESULTS = Path(__file__).resolve().parent / "results.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def is_message(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "MessageStored" and f["data"]["message"]["text"] == text


def post_to_push_latency(base: str, messages: int) -> list[float]:
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
        a.frames.clear()
        if (n + 1) % 100 == 0:
            print(f"  latency: {n + 1}/{messages} messages", flush=True)
    a.close()
    b.close()
    return samples


async def _fanout(base: str, sockets: int, users: int) -> float:
    owner = Client.sign_in(base, "Owner")
    chat_id = owner.create_chat(title=f"fan-out {sockets}")
    members = [Client.sign_in(base, f"U{i}") for i in range(users)]
    for member in members:
        member.join(chat_id)
    connections: list[ClientConnection] = []

    async def open_one(member: Client) -> ClientConnection:
        ticket = await asyncio.to_thread(member.ticket_url)
        connection = await connect(ticket, open_timeout=60, max_queue=None)
        await connection.send(json.dumps({"action": "subscribe", "chat_id": chat_id}))
        reply = json.loads(await connection.recv())
        assert reply["type"] == "Subscribed", reply
        return connection

    batch = 50
    for start in range(0, sockets, batch):
        opened = await asyncio.gather(
            *(open_one(members[i % users]) for i in range(start, min(sockets, start + batch)))
        )
        connections.extend(opened)
        print(f"  fan-out {sockets}: {len(connections)} sockets open", flush=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--fanout", type=int, nargs="*", default=[100, 1000])
    args = parser.parse_args(argv)
    with running_stack() as base:
        print(f"local stack at {base}", flush=True)
        latency = post_to_push_latency(base, args.messages)
        fanout = {str(n): round(asyncio.run(_fanout(base, n, users=min(10, n))), 1) for n in args.fanout}
    local = {
        "p50_ms": round(statistics.median(latency), 1),
        "p99_ms": round(percentile(latency, 99), 1),
        "messages": args.messages,
        "fanout_ms": fanout,
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["local"] = {**results.get("local", {}), **local}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| measure (local stack, this machine) | value |")
    print("| --- | --- |")
    print(f"| POST -> push to another socket, p50 ({args.messages} msgs, 2 sockets) | {local['p50_ms']} ms |")
    print(f"| POST -> push to another socket, p99 | {local['p99_ms']} ms |")
    for n, ms in fanout.items():
        print(f"| fan-out to {n} sockets in one chat (until the last has it) | {ms} ms |")
    print(f"\nwrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
