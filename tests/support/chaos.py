"""`make chaos`: a chat workload on the real local stack while fault points fire, then the conservation law.

Several chats (free ones where people @mention the AI, round-robin ones where the floor passes to
it), each with members, sockets, the welcome and moderation extensions and analytics. People post
over HTTP with a ``client_message_id`` and retry what did not get a 2xx, as a client would; sockets
record every frame. Faults fire at a seeded random rate during the posting, then they are cleared,
dead letters are redriven and the stack is left to go quiet (``in_flight == 0``, stream records
included, no dead letters, every AI request ended). Then every member resumes a socket with
``after_sequence`` from the last sequence it holds without a gap, and the law is checked:

- every post that got a 2xx is stored exactly once; sequences are 1..n; a client_message_id maps
  to one message;
- every member's frames (live + resumed, deduplicated by sequence) hold every client-visible event
  of the chat exactly once;
- every logged event was acked by every route its pattern matches (after redrive), the relay that
  publishes it from the events table's stream included;
- every member's inbox (the chat head's line) shows the chat's latest message, and every poster's
  marker is at or past their last post;
- every AIResponseRequested ends in exactly one AIResponseCompleted or AIResponseFailed; no floor
  stays with an AI participant or with someone who left.

Exit 0 only if all hold. ``python -m tests.support.chaos --help`` for the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from infra.local.faults import POINTS
from parley.catalog import CLIENT_VISIBLE, parse_detail
from parley.domain import audience
from parley.routing import Route
from parley.topology import all_routes
from tests.support.stack import Client, running_stack

ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer briefly."}
BLOCKED = "forbiddenword"
TERMINAL_AI = ("AIResponseCompleted", "AIResponseFailed")
ALL_POINTS = tuple(POINTS)
"""Every fault point the local stack has (`GET /local/faults` lists them)."""
CI_POINTS = ALL_POINTS
"""What `make test` fires: every point, as `make chaos` does, at a CI-sized workload."""
CI_RATES = {"dynamodb.throttle": 0.05}
"""Throttling low enough that a CI-sized run still gets most posts through PynamoDB's four attempts
(a post that fails them all is answered 503 and retried by the workload, which is correct but slow)."""


@dataclass(frozen=True)
class Size:
    chats: int
    members: int
    sockets: int
    posts: int
    rate: float
    points: tuple[str, ...]
    quiet_timeout: float
    rates: tuple[tuple[str, float], ...] = ()
    """Per-point rates that override ``rate``."""


CI = Size(
    chats=3,
    members=3,
    sockets=2,
    posts=3,
    rate=0.15,
    points=CI_POINTS,
    quiet_timeout=75,
    rates=tuple(CI_RATES.items()),
)
FULL = Size(chats=8, members=4, sockets=2, posts=20, rate=0.2, points=ALL_POINTS, quiet_timeout=300)


# -- HTTP and sockets ---------------------------------------------------------------------------------


def _call(base: str, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return int(response.status), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return int(error.code), json.loads(raw) if raw else None
        except ValueError:
            return int(error.code), raw.decode(errors="replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        return 0, str(exc)


@dataclass
class Listener:
    """One socket of one member: every frame it got, kept by a reader thread."""

    user: Client
    chat_id: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    _connection: ClientConnection | None = None
    _thread: threading.Thread | None = None

    def open(self, after_sequence: int | None = None) -> dict[str, Any]:
        connection = connect(self.user.ticket_url(), open_timeout=30, max_queue=None)
        frame: dict[str, Any] = {"action": "subscribe", "chat_id": self.chat_id}
        if after_sequence is not None:
            frame["after_sequence"] = after_sequence
        connection.send(json.dumps(frame))
        while True:
            reply: dict[str, Any] = json.loads(connection.recv(timeout=30))
            if reply["type"] in ("Subscribed", "Error"):
                break
            self.frames.append(reply)
        if reply["type"] != "Subscribed":
            raise RuntimeError(f"subscribe failed: {reply}")
        self._connection, self.closed = connection, False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return reply

    def _read(self) -> None:
        assert self._connection is not None
        try:
            for raw in self._connection:
                self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass
        self.closed = True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def sequences(self) -> Counter[int]:
        return Counter(
            f["sequence"] for f in self.frames if f.get("sequence") is not None and "event_id" in f
        )


# -- the workload ---------------------------------------------------------------------------------------


@dataclass
class Chat:
    chat_id: str
    mode: str
    members: list[Client]
    listeners: list[Listener] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """client_message_id -> the message a 2xx answer returned."""
    refused: Counter[str] = field(default_factory=Counter)
    retries: int = 0


def _setup(base: str, size: Size, n: int) -> Chat:
    mode = "free" if n % 2 == 0 else "round_robin"
    owner = Client.sign_in(base, f"Owner{n}")
    status, chat = _call(
        base,
        "POST",
        "/chats",
        {
            "title": f"chaos {n}",
            "turn_mode": mode,
            "ai_participants": [ORACLE],
            # turns never time out during a run: a deadline move committed while the law is being
            # checked would be a new event the routes have not had time to receive
            "settings": {
                "rate_limit_messages": 10_000,
                "hook_fallback": "allow",
                "turn_timeout_seconds": 86_400,
            },
        },
        owner.token,
    )
    assert status == 201, chat
    chat_id = chat["chat_id"]
    for extension, config in (("welcome", {}), ("moderation", {"blocked_terms": [BLOCKED]})):
        status, answer = _call(
            base,
            "PUT",
            f"/chats/{chat_id}/extensions/{extension}",
            {"enabled": True, "config": config},
            owner.token,
        )
        assert status in (200, 201), answer
    members = [owner]
    for m in range(1, size.members):
        member = Client.sign_in(base, f"Member{n}x{m}")
        member.join(chat_id)
        members.append(member)
    found = Chat(chat_id, mode, members)
    for member in members:
        for _ in range(size.sockets):
            listener = Listener(member, chat_id)
            listener.open()
            found.listeners.append(listener)
    return found


def _post_until_answered(base: str, chat: Chat, member: Client, text: str, deadline: float) -> None:
    """Post with a client_message_id; retry the same id until a definite answer, as a client would."""
    client_message_id = uuid.uuid4().hex
    while time.monotonic() < deadline:
        status, body = _call(
            base,
            "POST",
            f"/chats/{chat.chat_id}/messages",
            {"text": text, "client_message_id": client_message_id},
            member.token,
        )
        if 200 <= status < 300:
            chat.accepted[client_message_id] = body
            return
        if status in (0, 429) or status >= 500:
            chat.retries += 1
            time.sleep(0.2)
            continue
        chat.refused[str(status)] += 1
        return


def _member_loop(base: str, chat: Chat, member: Client, size: Size, seed: int, deadline: float) -> None:
    rng = random.Random(seed)
    for k in range(size.posts):
        if time.monotonic() > deadline:
            return
        if chat.mode == "round_robin":
            while time.monotonic() < deadline:  # wait for the floor, as the web client does
                status, view = _call(base, "GET", f"/chats/{chat.chat_id}", token=member.token)
                if status == 200 and view["turn"]["holder_id"] in (member.user_id, None):
                    break
                time.sleep(0.2)
        roll = rng.random()
        if chat.mode == "free" and roll < 0.25:
            text = f"@Oracle question {k} from {member.name}?"
        elif roll > 0.93:
            text = f"this has a {BLOCKED} in it ({k})"
        else:
            text = f"{member.name} says {k}"
        _post_until_answered(base, chat, member, text, deadline)
        time.sleep(rng.uniform(0.0, 0.3))


# -- quiet, then the law -------------------------------------------------------------------------------


def _stats(base: str) -> dict[str, Any]:
    status, stats = _call(base, "GET", "/local/stats")
    assert status == 200, stats
    result: dict[str, Any] = stats
    return result


def _events(base: str, chat: Chat) -> list[dict[str, Any]]:
    owner, items, after = chat.members[0], [], 0
    while True:
        status, page = _call(
            base, "GET", f"/chats/{chat.chat_id}/events?after={after}&limit=200", token=owner.token
        )
        assert status == 200, page
        items.extend(page["items"])
        if not page["items"] or not page.get("next"):
            return items
        after = page["items"][-1]["sequence"]


def _messages(base: str, chat: Chat) -> list[dict[str, Any]]:
    owner, items, after = chat.members[0], [], 0
    while True:
        status, page = _call(
            base, "GET", f"/chats/{chat.chat_id}/messages?after={after}&limit=200", token=owner.token
        )
        assert status == 200, page
        items.extend(page["items"])
        if not page["items"] or not page.get("next"):
            return items
        after = page["items"][-1]["sequence"]


def _ai_open(events: list[dict[str, Any]]) -> int:
    requested = {e["data"]["request_id"] for e in events if e["event_type"] == "AIResponseRequested"}
    ended = {e["data"]["request_id"] for e in events if e["event_type"] in TERMINAL_AI}
    return len(requested - ended)


def wait_quiet(base: str, chats: list[Chat], timeout: float) -> tuple[bool, dict[str, Any]]:
    """Redrive dead letters until the stack holds nothing in flight (stream records not yet handled
    included) or in its DLQs."""
    deadline = time.monotonic() + timeout
    calm = 0
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = _stats(base)
        if stats["dead_lettered"]:
            _call(base, "POST", "/local/redrive")
            calm = 0
        elif stats["in_flight"] == 0 and sum(_ai_open(_events(base, c)) for c in chats) == 0:
            calm += 1
            if calm >= 2:
                return True, stats
        else:
            calm = 0
        time.sleep(1.0)
    return False, stats


def _matches(route: Route, detail_type: str, source: str, detail: dict[str, Any]) -> bool:
    """EventBridge's matching, as far as the routing table's patterns use it: detail-type, source
    (exact or prefix), and detail fields whose value (or, for an array, one element) is allowed."""
    pattern = route.pattern
    if detail_type not in pattern["detail-type"]:
        return False
    if not any(
        s == source or (isinstance(s, dict) and source.startswith(s["prefix"])) for s in pattern["source"]
    ):
        return False
    return all(
        _field_matches((detail.get(section) or {}).get(key), allowed)
        for section, fields in pattern.get("detail", {}).items()
        for key, allowed in fields.items()
    )


def _field_matches(value: Any, allowed: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(v in allowed for v in values)


def _resume_point(have: set[int], expected: list[int]) -> int:
    """The last sequence before the first one this socket is missing: a gap-aware client resumes there."""
    last = 0
    for sequence in expected:
        if sequence not in have:
            return last
        last = sequence
    return last


@dataclass
class Verdict:
    posts: int = 0
    lost: int = 0
    duplicated: int = 0
    gaps: int = 0
    stuck: int = 0
    problems: list[str] = field(default_factory=list)
    fired: dict[str, int] = field(default_factory=dict)
    logged: dict[str, str] = field(default_factory=dict)
    """event id -> "<type> #<sequence> in <chat>", to name what a fault left unrecovered."""

    def problem(self, kind: str, count: int, text: str) -> None:
        if count:
            setattr(self, kind, getattr(self, kind) + count)
            self.problems.append(f"{kind} {count}: {text}")


def check(base: str, chats: list[Chat], quiet: bool, stats: dict[str, Any]) -> Verdict:
    """The conservation law, one clause at a time, over every chat of the run."""
    verdict = Verdict(posts=sum(len(c.accepted) for c in chats))
    if not quiet:
        verdict.problem("stuck", max(1, stats.get("in_flight", 0)), f"the stack never went quiet: {stats}")
    verdict.problem("stuck", stats.get("dead_lettered", 0), "events still dead-lettered after redrive")
    status, delivered_raw = _call(base, "GET", "/local/delivered")
    assert status == 200, delivered_raw
    delivered = {route: set(ids) for route, ids in delivered_raw.items()}
    routes = all_routes()
    for chat in chats:
        messages = _messages(base, chat)
        events = _events(base, chat)
        for event in events:
            verdict.logged[event["event_id"]] = (
                f"{event['event_type']} #{event['sequence']} in {chat.chat_id[:8]}"
            )
        _check_posts(verdict, chat, messages)
        _check_inbox(verdict, base, chat, messages)
        _check_log(verdict, chat, events)
        _check_routing(verdict, chat, events, routes, delivered)
        _check_ai(verdict, chat, events)
        _check_floor(verdict, base, chat)
        _check_sockets(verdict, chat, events)
    return verdict


def _check_posts(verdict: Verdict, chat: Chat, messages: list[dict[str, Any]]) -> None:
    """Each 2xx post stored exactly once, sequences 1..n, one message per client_message_id."""
    by_client = Counter(m.get("client_message_id") for m in messages if m.get("client_message_id"))
    for client_message_id, answer in chat.accepted.items():
        stored = by_client.get(client_message_id, 0)
        verdict.problem(
            "lost", int(stored == 0), f"{chat.chat_id}: 2xx post {answer.get('sequence')} not stored"
        )
        verdict.problem(
            "duplicated", max(0, stored - 1), f"{chat.chat_id}: {client_message_id} stored {stored}x"
        )
    sequences = [m["sequence"] for m in messages]
    verdict.problem(
        "gaps",
        len(set(range(1, len(sequences) + 1)) ^ set(sequences)),
        f"{chat.chat_id}: message sequences {sequences[:5]}...",
    )
    verdict.problem("duplicated", len(sequences) - len(set(sequences)), f"{chat.chat_id}: a sequence twice")


def _check_inbox(verdict: Verdict, base: str, chat: Chat, messages: list[dict[str, Any]]) -> None:
    """The inbox (the chat head's line) agrees with the history: every member's chat line shows the latest
    message, and every poster has read up to what they posted."""
    latest = max((m["sequence"] for m in messages), default=0)
    for member in chat.members:
        status, page = _call(base, "GET", "/chats?limit=200", token=member.token)
        line = (
            next((c for c in page["items"] if c["chat_id"] == chat.chat_id), None) if status == 200 else None
        )
        if line is None:
            verdict.problem("lost", 1, f"{chat.chat_id}: not in {member.name}'s chat list ({status})")
            continue
        shown = (line["last_message"] or {}).get("sequence", 0)
        verdict.problem(
            "lost", int(shown != latest), f"{chat.chat_id}: {member.name}'s inbox shows #{shown} of {latest}"
        )
        own = max((m["sequence"] for m in messages if m["sender_id"] == member.user_id), default=0)
        marker = line["last_read_sequence"]
        verdict.problem(
            "lost", int(marker < own), f"{chat.chat_id}: {member.name}'s marker {marker}, posted #{own}"
        )


def _check_log(verdict: Verdict, chat: Chat, events: list[dict[str, Any]]) -> None:
    """The chat's event log is 1..n, each event once."""
    event_sequences = [e["sequence"] for e in events]
    verdict.problem(
        "gaps",
        len(set(range(1, len(event_sequences) + 1)) ^ set(event_sequences)),
        f"{chat.chat_id}: event-log sequences not 1..n",
    )
    event_ids = Counter(e["event_id"] for e in events)
    verdict.problem(
        "duplicated", sum(n - 1 for n in event_ids.values()), f"{chat.chat_id}: an event logged twice"
    )


def _check_routing(
    verdict: Verdict,
    chat: Chat,
    events: list[dict[str, Any]],
    routes: tuple[Route, ...],
    delivered: dict[str, set[str]],
) -> None:
    """Every logged event reached every route subscribed to it."""
    for event in events:
        if event["event_type"] == audience.WITHHELD:
            continue  # not the owner's to see (a whisper between others): nothing to check
        envelope = parse_detail({"metadata": event["metadata"], "data": event["data"]})
        for route in routes:
            if _matches(route, event["event_type"], envelope.source, event):
                missing = event["event_id"] not in delivered.get(route.name, set())
                verdict.problem(
                    "lost",
                    int(missing),
                    f"{chat.chat_id}: {event['event_type']} #{event['sequence']} missed {route.name}",
                )


def _check_ai(verdict: Verdict, chat: Chat, events: list[dict[str, Any]]) -> None:
    """Each AIResponseRequested ends exactly once."""
    ends = Counter(e["data"]["request_id"] for e in events if e["event_type"] in TERMINAL_AI)
    for event in events:
        if event["event_type"] == "AIResponseRequested":
            n = ends.get(event["data"]["request_id"], 0)
            verdict.problem(
                "stuck", int(n == 0), f"{chat.chat_id}: AI request {event['data']['request_id']} never ended"
            )
            verdict.problem("duplicated", max(0, n - 1), f"{chat.chat_id}: AI request ended {n}x")


def _check_floor(verdict: Verdict, base: str, chat: Chat) -> None:
    """The floor never stays with a participant who can't take it."""
    status, view = _call(base, "GET", f"/chats/{chat.chat_id}", token=chat.members[0].token)
    if status != 200:
        return
    holder = view["turn"]["holder_id"]
    people = {p["id"] for p in view.get("participants", []) if p.get("kind") != "ai"}
    if holder is not None and holder not in people:
        verdict.problem("stuck", 1, f"{chat.chat_id}: the floor stays with {holder}")


def _check_sockets(verdict: Verdict, chat: Chat, events: list[dict[str, Any]]) -> None:
    """Every socket, resumed, holds every client-visible event exactly once."""
    visible = [
        e
        for e in events
        if e["event_type"] in CLIENT_VISIBLE
        and e["event_type"] != audience.WITHHELD  # a marker's frame has no event id to count
        and audience.audience_of_detail({"metadata": e["metadata"], "data": e["data"]}) == audience.EVERYONE
    ]
    expected = [e["sequence"] for e in visible]
    ids_by_sequence = {e["sequence"]: e["event_id"] for e in events}
    for listener in chat.listeners:
        listener.close()
        after = _resume_point(set(listener.sequences()), expected)
        listener.open(after_sequence=after)
    time.sleep(1.0)
    for listener in chat.listeners:
        listener.close()
        have = listener.sequences()
        absent = [s for s in expected if s not in have]
        verdict.problem(
            "lost", len(absent), f"{chat.chat_id}: a socket of {listener.user.name} lacks {absent[:5]}"
        )
        wrong = [
            f
            for f in listener.frames
            if f.get("sequence") in ids_by_sequence
            and "event_id" in f
            and f["event_id"] != ids_by_sequence[f["sequence"]]
        ]
        verdict.problem("duplicated", len(wrong), f"{chat.chat_id}: frames whose event is not the logged one")


# -- the run -----------------------------------------------------------------------------------------


def _points_table(faults: dict[str, Any], verdict: Verdict) -> list[str]:
    ok = not verdict.problems
    lines = [f"{'point':<20} {'fired':>6} {'recovered':>10}"]
    for point in faults["points"]:
        fired, recovered, open_ = point["fired"], point["recovered"], point["unrecovered"]
        if recovered or open_:
            shown = f"{recovered}/{recovered + open_}"
        else:
            shown = "law held" if ok else "law broken"
        lines.append(f"{point['point']:<20} {fired:>6} {shown if fired else '-':>10}")
    return lines


def run(base: str, size: Size, seed: int, *, out: Any = print) -> Verdict:
    out(
        f"chaos: seed {seed}, {size.chats} chats x {size.members} members x {size.sockets} sockets, "
        f"{size.posts} posts each, rate {size.rate:g} on {', '.join(size.points)}"
        + "".join(f"; {point} at {rate:g}" for point, rate in size.rates)
    )
    started = time.monotonic()
    chats = [_setup(base, size, n) for n in range(size.chats)]
    rates = dict(size.rates)
    rules = [{"point": p, "rate": rates.get(p, size.rate)} for p in size.points]
    status, armed = _call(base, "PUT", "/local/faults", {"rules": rules, "seed": seed})
    assert status == 200, armed
    deadline = time.monotonic() + 30 + size.posts * 5
    threads = [
        threading.Thread(
            target=_member_loop, args=(base, chat, member, size, seed * 1000 + i * 10 + j, deadline)
        )
        for i, chat in enumerate(chats)
        for j, member in enumerate(chat.members)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _call(base, "DELETE", "/local/faults")
    out(f"chaos: workload done in {time.monotonic() - started:.0f} s; faults cleared, waiting for quiet")
    quiet, stats = wait_quiet(base, chats, size.quiet_timeout)
    out(f"chaos: {'quiet' if quiet else 'NOT quiet'} after {time.monotonic() - started:.0f} s; checking")
    verdict = check(base, chats, quiet, stats)
    status, faults = _call(base, "GET", "/local/faults")
    verdict.fired = {p["point"]: p["fired"] for p in faults["points"]}
    for line in _points_table(faults, verdict):
        out(line)
    for problem in verdict.problems[:30]:
        out(f"  {problem}")
    for point in faults["points"]:
        if point["unrecovered"]:
            ids = [k.split(":")[-1].split("/")[-1] for k in point["unrecovered_sample"]]
            named = [
                verdict.logged.get(i, f"{k} (not in a chat's log)")
                for i, k in zip(ids, point["unrecovered_sample"], strict=True)
            ]
            out(f"  {point['point']}: not recovered: {', '.join(dict.fromkeys(named))}")
    retries = sum(c.retries for c in chats)
    refused = sum((c.refused for c in chats), Counter())
    out(
        f"chaos: {retries} client retries, refused {dict(refused)}, {time.monotonic() - started:.0f} s in all"
    )
    out(
        f"chaos: {verdict.posts} posts, {verdict.lost} lost, {verdict.duplicated} duplicated, "
        f"{verdict.gaps} gaps, {verdict.stuck} stuck"
    )
    return verdict


CHAOS_ENVIRONMENT = {
    # time compressed: a retry's backoff (90 s for the AI responder in AWS)
    "PARLEY_LOCAL_MAX_BACKOFF_SECONDS": "2",
}


@contextmanager
def chaos_stack() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in CHAOS_ENVIRONMENT}
    os.environ.update(CHAOS_ENVIRONMENT)
    try:
        with running_stack(startup_timeout=120) as base:
            yield base
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make chaos", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--size", choices=("ci", "full"), default="full")
    parser.add_argument("--seed", type=int, default=None, help="random by default (printed)")
    parser.add_argument("--points", help="comma-separated fault points (default: all)")
    parser.add_argument("--rate", type=float, help="the chance each opportunity fires")
    parser.add_argument("--base", help="use this running stack instead of starting one")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="connect\\(\\) must be used as a context manager")
    size = CI if args.size == "ci" else FULL
    if args.points:
        size = Size(**{**size.__dict__, "points": tuple(p for p in args.points.split(",") if p)})
    if args.rate is not None:
        size = Size(**{**size.__dict__, "rate": args.rate, "rates": ()})
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    if args.base:
        verdict = run(args.base, size, seed)
    else:
        with chaos_stack() as base:
            verdict = run(base, size, seed)
    broken = verdict.lost or verdict.duplicated or verdict.gaps or verdict.stuck
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
