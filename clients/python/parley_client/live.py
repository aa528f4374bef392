"""Live frames without gaps or duplicates, across reconnects.

Per chat the stream keeps the last event-log sequence it delivered. A frame at or below it is a
duplicate (a replay, a redelivery) and is dropped; one that skips ahead means frames were missed (a
push that failed, a frame the network lost), so the missing range is read from ``/events`` and
delivered first. After a drop it reconnects with a new ticket and subscribes with ``after_sequence``;
the ``Subscribed`` reply's ``sequence`` (the chat's latest event) is a watermark: anything up to it
not yet delivered is read from ``/events`` too, so a replay the server capped (``complete: false``) or
cut short loses nothing. Events that are never stored (typing, AI chunks) have no sequence and pass
through, deduplicated by event id. A stored event this member may not see (a whisper between
others) comes as a ``Withheld`` event at its sequence, with no content: it keeps the sequence whole,
so skip it unless you count what you cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from parley.catalog import AIResponseChunk, AIResponseCompleted, AIResponseFailed
from parley_client.errors import AIReplyFailedError, ApiError, LiveError, UnreachableError
from parley_client.models import Frame, LiveEvent

if TYPE_CHECKING:
    from parley_client.client import AsyncClient

MAX_FRAME_BYTES = 256 * 1024
SEEN_EPHEMERAL = 2048
"""Event ids of unsequenced events remembered per stream, to drop a redelivered chunk or typing frame."""
LOST = (WebSocketException, OSError)


class Socket(Protocol):
    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...

    async def close(self) -> None: ...


Connect = Callable[[str], Awaitable[Socket]]


async def connect_websocket(url: str) -> Socket:
    return await connect(url, open_timeout=10, max_size=MAX_FRAME_BYTES)


@dataclass
class Cursor:
    """One chat's position: the highest sequence delivered (or read past) so far."""

    last: int


@dataclass
class Stats:
    """What the stream had to repair, for tests and for a curious caller."""

    connects: int = 0
    duplicates: int = 0
    gaps: int = 0
    fetched: int = 0


@dataclass
class Live:
    """``AsyncClient.live()``: iterate it, or enter it (``async with``) to be subscribed first."""

    client: AsyncClient
    chat_ids: list[str]
    after: int | Mapping[str, int] | None = None
    connect: Connect = connect_websocket
    keepalive: float = 300.0
    max_reconnects: int = 10
    stats: Stats = field(default_factory=Stats)
    _cursors: dict[str, Cursor] = field(default_factory=dict)
    _socket: Socket | None = None
    _ready: deque[LiveEvent] = field(default_factory=deque)
    _held: deque[LiveEvent] = field(default_factory=deque)
    _seen: deque[str] = field(default_factory=lambda: deque(maxlen=SEEN_EPHEMERAL))
    _pending: set[str] = field(default_factory=set)
    _closed: bool = False
    _entered: bool = False
    _connection_id: str | None = None
    _own: dict[str, dict[int, Frame]] = field(default_factory=dict)

    # -- the caller's side ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._entered = True
        await self._ensure_open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[LiveEvent]:
        try:
            while True:
                yield self._held.popleft() if self._held else await self._next()
        finally:
            if not self._entered:  # iterated without `async with`: the loop owns the socket
                await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        self.client._forget(self)
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(*LOST):
                await socket.close()

    async def ai_reply(self, participant_id: str | None = None) -> AsyncIterator[AIResponseChunk]:
        """The next AI reply's chunks, in order, until it completes (``AIReplyFailedError`` if it
        fails). The reply's own events (started, chunks, completed) are consumed here; any other event
        meanwhile is kept for the stream's own iteration, in order."""
        request_id: str | None = None
        chunks: dict[int, AIResponseChunk] = {}
        at = 0
        earlier, self._held = self._held, deque()  # a reply may have begun during the last one
        while True:
            event = earlier.popleft() if earlier else await self._next()
            data = event.data
            ours = getattr(data, "request_id", None) is not None and (
                participant_id in (None, getattr(data, "participant_id", None))
            )
            if not ours or (request_id is not None and getattr(data, "request_id", None) != request_id):
                self._held.append(event)
                continue
            request_id = getattr(data, "request_id", None)
            if isinstance(data, AIResponseChunk):
                chunks.setdefault(data.index, data)
                while at in chunks:
                    yield chunks.pop(at)
                    at += 1
            elif isinstance(data, AIResponseFailed):
                raise AIReplyFailedError(data.reason, data.detail)
            elif isinstance(data, AIResponseCompleted):
                for index in sorted(chunks):  # a chunk lost on the way leaves a hole, never a hang
                    yield chunks[index]
                return

    # -- the sender's own posts ----------------------------------------------------------------------

    def origin_for(self, chat_id: str) -> str | None:
        """The open socket's id, to name as a post's origin, while it is subscribed to ``chat_id``."""
        if self._socket is None or chat_id not in self._cursors:
            return None
        return self._connection_id

    def posted(self, frame: Frame) -> None:
        """The POST answer's copy of the MessageStored frame this stream's socket is not pushed:
        delivered at its place in sequence order (a frame before it still on its way comes first)."""
        chat_id = frame.chat_id or ""
        cursor = self._cursors.get(chat_id)
        if cursor is None or frame.sequence is None or frame.sequence <= cursor.last:
            return
        self._own.setdefault(chat_id, {})[frame.sequence] = frame
        self._ready.extend(self._own_next(chat_id, cursor))

    def _own_next(self, chat_id: str, cursor: Cursor) -> list[LiveEvent]:
        """The sender's own frames that come next after ``cursor``; those it passed are dropped."""
        own = self._own.get(chat_id)
        if not own:
            return []
        events = []
        while (frame := own.pop(cursor.last + 1, None)) is not None:
            cursor.last += 1
            if (event := LiveEvent.of_frame(frame)) is not None:
                events.append(event)
        for passed in [s for s in own if s <= cursor.last]:
            del own[passed]
        return events

    # -- the socket's side ---------------------------------------------------------------------------

    async def _next(self) -> LiveEvent:
        while not self._ready:
            socket = await self._ensure_open()
            if self._ready:  # the resubscription's replay
                break
            try:
                raw = await asyncio.wait_for(socket.recv(), timeout=self.keepalive)
            except TimeoutError:  # idle: API Gateway cuts a socket after 10 min without traffic
                await self._send(socket, {"action": "ping"})
                continue
            except LOST:
                self._socket = None
                continue
            self._ready.extend(await self._handle(raw))
        return self._ready.popleft()

    async def _ensure_open(self) -> Socket:
        if self._closed:
            raise LiveError("the stream is closed", code="closed")
        if not self._cursors:
            await self._start_cursors()
        failures = 0
        while self._socket is None:
            reached = self._reached()
            try:
                self._socket = await self._open()
            except (UnreachableError, *LOST) as exc:
                # a socket cut during its replay still brought events: only attempts without any count
                failures = 0 if self._reached() > reached else failures + 1
                if failures > self.max_reconnects:
                    raise LiveError(f"could not reconnect after {failures} attempts in a row: {exc}") from exc
                await asyncio.sleep(random.uniform(0, min(10.0, 0.25 * 2**failures)))
        return self._socket

    def _reached(self) -> int:
        return sum(cursor.last for cursor in self._cursors.values())

    async def _start_cursors(self) -> None:
        for chat_id in self.chat_ids:
            if isinstance(self.after, int):
                start = self.after
            elif self.after is not None and chat_id in self.after:
                start = self.after[chat_id]
            else:
                start = (await self.client.chat(chat_id)).last_event_sequence
            self._cursors[chat_id] = Cursor(start)

    async def _open(self) -> Socket:
        try:
            ticket = await self.client.ticket()
        except ApiError as exc:
            if exc.status < 500 and exc.status != 429:
                raise LiveError(exc.message, code=exc.code) from exc
            raise UnreachableError(str(exc)) from exc
        self._connection_id = None
        socket = await self.connect(ticket.url)
        self.stats.connects += 1
        try:
            self._pending = set(self.chat_ids)
            for chat_id in self.chat_ids:
                after = self._cursors[chat_id].last
                await self._send(socket, {"action": "subscribe", "chat_id": chat_id, "after_sequence": after})
            while self._pending:  # subscribed before the caller goes on: nothing it sends is missed
                raw = await asyncio.wait_for(socket.recv(), timeout=30)
                self._ready.extend(await self._handle(raw))
        except BaseException:
            await socket.close()
            raise
        return socket

    async def _send(self, socket: Socket, action: dict[str, Any]) -> None:
        try:
            await socket.send(json.dumps(action))
        except LOST:
            self._socket = None

    async def _handle(self, raw: str | bytes) -> list[LiveEvent]:
        try:
            frame = Frame.model_validate_json(raw)
        except ValidationError:
            return []  # a frame type newer than this client: not ours to interpret
        cursor = self._cursors.get(frame.chat_id or "")
        if frame.type == "Error":
            return self._refused(frame)
        if cursor is None or frame.type in ("Unsubscribed", "Ack", "pong"):
            return []
        chat_id = frame.chat_id or ""
        if frame.type == "Subscribed":
            self._pending.discard(chat_id)
            self._connection_id = frame.data.get("connection_id") or self._connection_id
            return [*await self._fill(chat_id, cursor, frame.sequence or 0), *self._own_next(chat_id, cursor)]
        if frame.sequence is None:
            return self._ephemeral(frame)
        if frame.sequence <= cursor.last:
            self.stats.duplicates += 1
            return []
        events = self._own_next(chat_id, cursor)
        if frame.sequence > cursor.last + 1:
            self.stats.gaps += 1
            events += await self._fill(chat_id, cursor, frame.sequence - 1)
        cursor.last = frame.sequence
        event = LiveEvent.of_frame(frame)
        return [*events, *([event] if event is not None else []), *self._own_next(chat_id, cursor)]

    def _refused(self, frame: Frame) -> list[LiveEvent]:
        if frame.data.get("action") == "subscribe":
            raise LiveError(str(frame.data.get("message", "")), code=str(frame.data.get("code", "error")))
        return []  # a refused ping or typing concerns no event

    def _ephemeral(self, frame: Frame) -> list[LiveEvent]:
        if frame.event_id is not None:
            if frame.event_id in self._seen:
                self.stats.duplicates += 1
                return []
            self._seen.append(frame.event_id)
        event = LiveEvent.of_frame(frame)
        return [event] if event is not None else []

    async def _fill(self, chat_id: str, cursor: Cursor, upto: int) -> list[LiveEvent]:
        """The client-visible events after ``cursor.last`` up to ``upto``, from the event log."""
        events: list[LiveEvent] = []
        after = cursor.last
        while after < upto:
            page = await self.client.event_page(chat_id, after=after, limit=100)
            for item in page.items:
                if item.sequence > upto:
                    break
                event = LiveEvent.of_item(item)
                if event is not None:
                    events.append(event)
            if page.next is None:  # the cursor moves past events this member may not see, too
                break
            after = int(page.next)
        self.stats.fetched += len(events)
        cursor.last = max(cursor.last, upto)
        return events
