"""A fake Parley for the client's unit tests: an HTTP transport answering from an in-memory chat (its
event log paged as the server pages it, tickets, posts keyed by ``client_message_id``), and sockets
the test feeds frames to. Real code paths of the client run on top; only the network is replaced."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.catalog import (
    Actor,
    AIResponseRequested,
    Envelope,
    EventData,
    MessageStored,
    ParticipantView,
    TypingStarted,
    UserJoined,
    new_event,
)
from parley.domain.audience import withheld_detail
from parley.http.models import EventItem
from parley.realtime.frames import frame_of
from parley_client._http import Response
from tests.unit.samples import message_view

CHAT = "3b3747f7-d910-40d0-a043-44f76b66b11e"
ALICE = Actor(id="alice", kind="user", name="Alice")
CHAT_JSON: dict[str, Any] = {
    "chat_id": CHAT,
    "title": "t",
    "status": "active",
    "turn_mode": "free",
    "settings": {},
    "participants": [],
    "turn": {"holder_id": None, "turn_number": 0, "since": None},
    "created_by": "alice",
    "created_at": "2026-12-01T00:00:00Z",
    "last_sequence": 0,
    "last_event_sequence": 0,
}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode()
    )


@dataclass
class FakeApi:
    """The HTTP API of one chat. ``script`` answers (or raises) before the real routes, in order."""

    log: list[Envelope[EventData]] = field(default_factory=list)
    posted: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    script: list[Response | OSError] = field(default_factory=list)
    page_size: int = 3
    logged_posts: bool = False
    """Posts go into the log as MessageStored and the answer carries its frame, as the server's do."""
    origins: list[str | None] = field(default_factory=list)
    hidden: set[int] = field(default_factory=set)
    """Sequences this caller may not see: the event log answers them as Withheld markers."""

    def whisper_to_others(self) -> Envelope[EventData]:
        """A whisper between other members: in the log, read by this caller as a Withheld marker."""
        envelope = self.message("not for you")
        self.hidden.add(envelope.metadata.sequence or 0)
        return envelope

    def append(self, data: EventData) -> Envelope[EventData]:
        envelope = new_event(data, chat_id=CHAT, actor=ALICE).with_sequence(len(self.log) + 1)
        self.log.append(envelope)
        return envelope

    def message(self, text: str) -> Envelope[EventData]:
        messages = sum(isinstance(e.data, MessageStored) for e in self.log)
        view = message_view(text, sequence=messages + 1).model_copy(update={"chat_id": CHAT})
        return self.append(MessageStored(message=view, turn_mode="free", turn_number=0))

    def joined(self, who: str) -> Envelope[EventData]:
        member = ParticipantView(id=who, name=who, kind="human", role="member")
        return self.append(UserJoined(participant=member, turn_mode="free"))

    def unseen(self) -> Envelope[EventData]:
        """An event stored in the log but never pushed to sockets (not client-visible)."""
        request = AIResponseRequested(
            request_id="r", participant_id="ai", trigger="turn", after_message_sequence=0
        )
        return self.append(request)

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        parsed = urllib.parse.urlsplit(url)
        payload = json.loads(body) if body else None
        self.requests.append((method, parsed.path, payload))
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, OSError):
                raise step
            return step
        return self._route(method, parsed.path, dict(urllib.parse.parse_qsl(parsed.query)), payload)

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any) -> Response:
        if path == "/realtime/tickets":
            return _json(
                201, {"ticket": "t", "url": "ws://fake/ws?ticket=t", "expires_at": "2026-12-01T00:01:00Z"}
            )
        if path == f"/chats/{CHAT}" and method == "GET":
            return _json(200, {**CHAT_JSON, "last_event_sequence": len(self.log)})
        if path == f"/chats/{CHAT}/events":
            return self._events(int(query.get("after", 0)), int(query.get("limit", 100)))
        if path == f"/chats/{CHAT}/messages" and method == "POST" and self.logged_posts:
            self.origins.append(payload.get("origin_connection_id"))
            stored = self.message(payload["text"])
            view = stored.to_detail()["data"]["message"]
            return _json(201, {**view, "frame": json.loads(frame(stored))})
        if path == f"/chats/{CHAT}/messages" and method == "POST":
            key = payload["client_message_id"]
            if key not in self.posted:
                self.posted[key] = message_view(payload["text"], sequence=len(self.posted) + 1).model_dump(
                    mode="json"
                )
            return _json(201, self.posted[key])
        return _json(404, {"error": {"code": "not_found", "message": f"no route {method} {path}"}})

    def _events(self, after: int, limit: int) -> Response:
        later = [e for e in self.log if (e.metadata.sequence or 0) > after]
        page = later[: min(limit, self.page_size)]
        more = len(later) > len(page)
        items = [
            EventItem.of(withheld_detail(CHAT, e.metadata.sequence or 0)).model_dump(mode="json")
            if e.metadata.sequence in self.hidden
            else {
                "event_id": e.metadata.event_id,
                "event_type": e.event_type,
                "sequence": e.metadata.sequence,
                "occurred_at": e.metadata.occurred_at.isoformat(),
                "correlation_id": e.metadata.correlation_id,
                "metadata": e.to_detail()["metadata"],
                "data": e.to_detail()["data"],
            }
            for e in page
        ]
        return _json(
            200, {"items": items, "next": str(page[-1].metadata.sequence) if more and page else None}
        )


def frame(envelope: Envelope[EventData]) -> str:
    return frame_of(envelope).encode().decode()


def typing_frame() -> Envelope[EventData]:
    return new_event(TypingStarted(participant_id="alice"), chat_id=CHAT, actor=ALICE)


@dataclass
class FakeSocket:
    """One WebSocket: the test (or ``on_send``) puts frames in; closing it ends ``recv`` with an error."""

    on_send: Callable[[FakeSocket, dict[str, Any]], None]
    inbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    sent: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    connection_id: str = "sock"

    async def recv(self) -> str | bytes:
        item = await self.inbox.get()
        if item is None:
            self.closed = True
            raise ConnectionResetError("the server closed the socket")
        return item

    async def send(self, message: str) -> None:
        if self.closed:
            raise ConnectionResetError("closed")
        action = json.loads(message)
        self.sent.append(action)
        self.on_send(self, action)

    async def close(self) -> None:
        self.closed = True

    def push(self, text: str) -> None:
        self.inbox.put_nowait(text)

    def drop(self) -> None:
        self.inbox.put_nowait(None)


@dataclass
class FakeGateway:
    """Hands out sockets that answer ``subscribe`` as the server does: the replay, then Subscribed."""

    api: FakeApi
    sockets: list[FakeSocket] = field(default_factory=list)
    replay: bool = True
    subscribed_extra: dict[str, Any] = field(default_factory=dict)
    cut_replay_after: int | None = None
    """Drop each socket after this many replayed frames (None: replay all)."""

    async def connect(self, url: str) -> FakeSocket:
        socket = FakeSocket(self._answer, connection_id=f"sock-{len(self.sockets) + 1}")
        self.sockets.append(socket)
        return socket

    def _answer(self, socket: FakeSocket, action: dict[str, Any]) -> None:
        if action["action"] != "subscribe":
            return
        after = action.get("after_sequence")
        if self.replay and after is not None:
            missed = [e for e in self.api.log if (e.metadata.sequence or 0) > after]
            for envelope in missed[: self.cut_replay_after]:
                socket.push(frame(envelope))
            if self.cut_replay_after is not None and len(missed) > self.cut_replay_after:
                socket.drop()  # the gateway cut the socket mid-replay
                return
        data = {
            "replayed": 0,
            "last_message_sequence": 0,
            "connection_id": socket.connection_id,
            **self.subscribed_extra,
        }
        subscribed = {"type": "Subscribed", "chat_id": CHAT, "sequence": len(self.api.log), "data": data}
        socket.push(json.dumps(subscribed))
