"""The stage a cold-start probe's first invocation runs against: a moto server, a push receiver, data.

A cold start is the handler's import plus its first invocation, so each probe needs one real
event that takes the function down its real path: the api posts a message, the authorizer redeems
a fresh ticket, realtime connects a socket, and every queue consumer gets one record that its
route's own rule (same pattern as in AWS) put on its queue. The stage provisions everything from
the routing table (``infra.local.provision``), drives a small chat through the real handlers in
this process, and drains each route's queue into a pool, so every probe gets an event no earlier
probe has handled (the extensions and the analytics count an event id once).

moto runs as a server in a process of its own, so a probe's CPU time is only its own work;
its wall time includes moto's answers (a few ms per request on this machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PREFERRED: Mapping[str, tuple[str, ...]] = {
    "broadcaster": ("MessageStored",),
    "turns": ("UserJoined",),
    "ext_analytics": ("MessageStored",),
    "ext_sentiment": ("MessageStored",),
    "ext_webhook": ("MessageStored",),
    "ext_welcome": ("UserJoined",),
}
"""For a queue that gets several event types, the one a probe takes first (the common case)."""


class _Receiver(BaseHTTPRequestHandler):
    """Answers 200 to anything: the management API's post_to_connection, and webhook deliveries."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Stage:
    """The running stage: the environment probes get, and one event pool per function."""

    environment: dict[str, str]
    pools: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    issue_ticket: Callable[[], str] = lambda: ""
    """A fresh ticket (they live a minute, so each is issued right before its probe)."""
    chat_id: str = ""
    posters: list[dict[str, str]] = field(default_factory=list)
    streamed: frozenset[str] = frozenset()
    """Functions fed by the events table's stream (their pools hold stream records, not messages)."""
    _served: int = 0

    def event_for(self, function: str) -> dict[str, Any]:
        """A fresh first event for ``function`` (each call a different one)."""
        from infra.local.events import authorizer_event, http_api_event, websocket_event

        self._served += 1
        n = self._served
        if function.startswith("floor_"):
            return {}
        if function == "api":
            poster = self.posters[n % len(self.posters)]
            body = json.dumps({"text": f"cold start probe {n}", "client_message_id": str(uuid.uuid4())})
            return http_api_event(
                "POST",
                f"/chats/{self.chat_id}/messages",
                headers={"content-type": "application/json", "user-agent": "bench"},
                body=body,
                claims=poster,
            )
        if function == "ws_authorizer":
            return authorizer_event(f"probe{n}", query={"ticket": self.issue_ticket()}, headers={})
        if function == "realtime":
            alice = self.posters[0]
            authorizer = {"principalId": alice["sub"], "user_id": alice["sub"], "name": alice["name"]}
            return websocket_event("$connect", f"probe-conn-{n}", authorizer=authorizer)
        if function == "outbox_sweeper":
            return {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
        pool = self.pools.get(function) or []
        if not pool:
            raise RuntimeError(f"no queued event left for {function}: raise the stage's rounds")
        if function in self.streamed:
            return {"Records": [pool.pop(0)]}  # an event source mapping's batch of one stream record
        wanted = PREFERRED.get(function, ())
        index = next((i for i, m in enumerate(pool) if json.loads(m["Body"]).get("detail-type") in wanted), 0)
        return _sqs_event([pool.pop(index)], function)


def _sqs_event(messages: list[dict[str, Any]], function: str) -> dict[str, Any]:
    from infra.local.dispatch import sqs_event

    for message in messages:
        message.setdefault("Attributes", {})["ApproximateReceiveCount"] = "1"
    return sqs_event(messages, f"arn:aws:sqs:us-east-1:123456789012:parley-{function}", "us-east-1")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _start_moto(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers/parley/python'}:{ROOT}",
        "MOTO_DISABLE_GLOBAL_CORS": "true",
    }
    moto = subprocess.Popen(
        [sys.executable, "-m", "infra.local.moto_process", "--host", HOST, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        if moto.poll() is not None:
            raise RuntimeError(f"moto exited with {moto.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/", timeout=1):
                return moto
        except urllib.error.HTTPError:
            return moto
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                moto.kill()
                raise RuntimeError("moto did not start within 30 s") from None
            time.sleep(0.1)


def stage_environment(moto_port: int, receiver_port: int) -> dict[str, str]:
    """What a probe adds to the Lambda-like environment: where AWS is, and the deployed choices."""
    return {
        "AWS_ENDPOINT_URL": f"http://{HOST}:{moto_port}",
        "PARLEY_WEBSOCKET_MANAGEMENT_URL": f"http://{HOST}:{receiver_port}",
        "PARLEY_WEBSOCKET_URL": f"ws://{HOST}:{receiver_port}/ws",
        # no model account here: the local provider streams the reply (no delay between chunks)
        "PARLEY_AI_PROVIDER": "local",
        "PARLEY_LOCAL_AI_CHUNK_DELAY_MS": "0",
        # the webhook delivers to the receiver on this machine
        "PARLEY_WEBHOOK_ALLOW_HTTP": "true",
    }


@contextmanager
def running(rounds: int, progress: Callable[[str], None] = print) -> Iterator[Stage]:
    """Start moto and the receiver, provision, and seed enough events for ``rounds`` probes each."""
    moto_port, receiver = _free_port(), ThreadingHTTPServer((HOST, 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    moto = _start_moto(moto_port)
    saved = dict(os.environ)
    env = stage_environment(moto_port, receiver.server_address[1])
    try:
        os.environ.update(
            {
                **env,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "PARLEY_HOOK_INVOKER": "inprocess",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            }
        )
        stage = Stage(environment=env)
        _seed(stage, rounds, receiver.server_address[1], progress)
        yield stage
    finally:
        os.environ.clear()
        os.environ.update(saved)
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()
        receiver.shutdown()


def _seed(stage: Stage, rounds: int, receiver_port: int, progress: Callable[[str], None]) -> None:
    from infra.local.dispatch import LambdaContext
    from infra.local.functions import load_handler
    from infra.local.provision import provision
    from parley import root
    from parley.settings import settings
    from tests.support.api import Api, User

    root.reset()
    provisioned = provision(settings())
    api = Api()
    alice, bob = User("bench-alice", "Alice"), User("bench-bob", "Bob")

    def ok(response: Any, *statuses: int) -> Any:
        if response.status not in statuses:
            raise RuntimeError(f"cold-start stage: {response.status} {response.text}")
        return response.json

    unlimited = {"rate_limit_messages": 10_000, "rate_limit_window_seconds": 1}
    oracle = {"id": "oracle", "name": "Oracle", "provider": "local", "invocation": "on_mention"}
    free = ok(
        api.post(
            "/chats",
            alice,
            body={"title": "Bench", "turn_mode": "free", "ai_participants": [oracle], "settings": unlimited},
        ),
        201,
    )["chat_id"]
    strict = ok(api.post("/chats", alice, body={"title": "Strict", "turn_mode": "round_robin"}), 201)
    strict_id = strict["chat_id"]
    ok(api.post(f"/chats/{free}/members", bob), 200)
    webhook = {"url": f"http://{HOST}:{receiver_port}/hook", "secret": "bench-secret-0123456789"}
    for extension, config in (("welcome", None), ("sentiment", None), ("webhook", webhook)):
        body: dict[str, Any] = {"enabled": True, **({"config": config} if config else {})}
        ok(api.call("PUT", f"/chats/{free}/extensions/{extension}", alice, body=body), 200, 201)
    _subscribe(free, alice, bob)
    stage.chat_id, stage.posters = free, [alice.claims, bob.claims]
    stage.issue_ticket = lambda: str(ok(api.post("/realtime/tickets", alice), 200, 201)["ticket"])
    progress(f"  cold start: seeding {rounds} rounds of events on moto")
    for n in range(rounds):
        for joiner in (User(f"bench-u{n}", f"U{n}"), User(f"bench-w{n}", f"W{n}")):
            ok(api.post(f"/chats/{free}/members", joiner), 200)
        ok(api.post(f"/chats/{strict_id}/members", User(f"bench-s{n}", f"S{n}")), 200)
        ok(api.post(f"/chats/{free}/messages", alice, body={"text": f"hello @Oracle, round {n}"}), 201)
        # the hook extensions' queues get only their life-cycle events: toggled each round (on the
        # chat without posts, so no read filter rules on another probe's push)
        for hooked in ("moderation", "spoilers"):
            toggle = {"enabled": n % 2 == 0}
            ok(api.call("PUT", f"/chats/{strict_id}/extensions/{hooked}", alice, body=toggle), 200, 201)
    _seed_poll_and_workflows(api, alice, rounds, ok)
    # what the events table's stream holds, per stream route (its own filter), as Lambda hands it;
    # the relay's records are then put on the bus by the relay itself, which fills the queues
    stage.pools = _stream_pools(provisioned.stream_arn)
    stage.streamed = frozenset(stage.pools)
    relay = load_handler("relay")
    for i in range(0, len(stage.pools["relay"]), 25):
        batch = {"Records": stage.pools["relay"][i : i + 25]}
        relay(batch, LambdaContext.for_function("relay"))
    stage.pools.update(_drain(provisioned.queue_urls))
    # the extension gateway's events are what extensions send: let welcome greet half the joiners
    welcome = stage.pools.get("ext_welcome", [])
    joins = [m for m in welcome if json.loads(m["Body"]).get("detail-type") == "UserJoined"]
    handled = joins[: len(joins) // 2]
    stage.pools["ext_welcome"] = [m for m in welcome if m not in handled]
    load_handler("ext_welcome")(_sqs_event(handled, "ext_welcome"), LambdaContext.for_function("ext_welcome"))
    stage.pools["extension_gateway"] = _drain({"g": provisioned.queue_urls["extension_gateway"]})["g"]
    root.reset()


def _subscribe(chat_id: str, *users: Any) -> None:
    """Each user's socket connects and subscribes to the chat (so posts there have pushes)."""
    from infra.local.dispatch import LambdaContext
    from infra.local.events import websocket_event
    from infra.local.functions import load_handler

    realtime = load_handler("realtime")
    for who in users:
        connection = f"bench-{who.user_id}"
        authorizer = {"principalId": who.user_id, "user_id": who.user_id, "name": who.name}
        realtime(
            websocket_event("$connect", connection, authorizer=authorizer),
            LambdaContext.for_function("realtime"),
        )
        frame = json.dumps({"action": "subscribe", "chat_id": chat_id})
        realtime(
            websocket_event("subscribe", connection, body=frame, authorizer=authorizer),
            LambdaContext.for_function("realtime"),
        )


WORKFLOW = {
    "id": "greet",
    "trigger": {
        "event": "UserJoined",
        "conditions": [{"var": "actor.kind", "op": "equals", "value": "human"}],
    },
    "steps": [{"do": "post", "text": "Welcome {actor.name} to {chat.title}!"}],
}
"""The workflows probe's chat greets each joiner (the example README gives)."""


def _seed_poll_and_workflows(api: Any, owner: Any, rounds: int, ok: Callable[..., Any]) -> None:
    """A chat of its own for the poll (a /poll command a round) and workflows (a greeted join a
    round), seeded after the others, so no other function's probe takes its events first."""
    from tests.support.api import User

    unlimited = {"rate_limit_messages": 10_000, "rate_limit_window_seconds": 1}
    body = {"title": "Extras", "turn_mode": "free", "settings": unlimited}
    chat_id = ok(api.post("/chats", owner, body=body), 201)["chat_id"]
    ok(api.call("PUT", f"/chats/{chat_id}/extensions/poll", owner, body={"enabled": True}), 200, 201)
    install = {"enabled": True, "config": {"workflows": [WORKFLOW]}}
    ok(api.call("PUT", f"/chats/{chat_id}/extensions/workflows", owner, body=install), 200, 201)
    for n in range(rounds):
        ok(api.post(f"/chats/{chat_id}/members", User(f"bench-x{n}", f"X{n}")), 200)
        ok(
            api.post(f"/chats/{chat_id}/messages", owner, body={"text": f'/poll "Round {n}?" "Yes" "No"'}),
            202,
        )


def _stream_pools(arn: str) -> dict[str, list[dict[str, Any]]]:
    from infra.local.streams import StreamReader, lambda_record, matches, streams_client
    from parley.topology import stream_routes

    records: list[dict[str, Any]] = []
    reader = StreamReader(streams_client("us-east-1"), arn)
    while batch := reader.read():
        records += [record for _, record in batch]
    return {
        route.function: [
            lambda_record(r, arn, "us-east-1") for r in records if matches(route.stream_filter, r)
        ]
        for route in stream_routes()
    }


def _drain(queue_urls: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    pools: dict[str, list[dict[str, Any]]] = {}
    for name, url in queue_urls.items():
        found: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            found += messages
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        pools[name] = found
    return pools
