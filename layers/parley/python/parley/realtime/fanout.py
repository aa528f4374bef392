"""The broadcaster's work: push one event to every subscribed socket of its chat's members."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from parley.adapters.connections import ConnectionRepository, Subscriber
from parley.adapters.dynamodb import ChatRepository
from parley.catalog import Audience, Envelope, Role
from parley.clock import utc_now
from parley.domain import audience
from parley.domain.audience import visible_to
from parley.errors import PushFailedError
from parley.observability import logger
from parley.ports import ConnectionGoneError, Pusher
from parley.realtime.frames import frame_of, withheld_frame
from parley.services.read_filters import MESSAGE_EVENTS, ReadFilters

ROSTER_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Roster:
    """Who may receive a chat's events at one roster version: its people, and which moderate."""

    version: int
    members: frozenset[str]
    moderators: frozenset[str]

    def role(self, user_id: str) -> Role | None:
        """As much of the member's role as the audience rule needs (the owner moderates too)."""
        if user_id not in self.members:
            return None
        return "moderator" if user_id in self.moderators else "member"


NO_ROSTER = Roster(version=0, members=frozenset(), moderators=frozenset())
"""A chat that is gone: nobody may receive its events."""


@dataclass(frozen=True)
class FanoutResult:
    delivered: int
    gone: int
    failed: int
    not_members: int
    origin_skipped: int = 0

    def plus(self, other: FanoutResult) -> FanoutResult:
        return FanoutResult(
            self.delivered + other.delivered,
            self.gone + other.gone,
            self.failed + other.failed,
            self.not_members + other.not_members,
            self.origin_skipped + other.origin_skipped,
        )


class Broadcaster:
    def __init__(
        self,
        connections: ConnectionRepository,
        chats: ChatRepository,
        pusher: Pusher,
        *,
        concurrency: int = 16,
        clock: Callable[[], datetime] = utc_now,
        read_filters: ReadFilters | None = None,
    ) -> None:
        self._rosters: OrderedDict[str, Roster] = OrderedDict()
        self._rosters_lock = threading.Lock()
        self._connections = connections
        self._chats = chats
        self._pusher = pusher
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="push")
        self._clock = clock
        self._read_filters = read_filters

    def broadcast(self, envelope: Envelope[Any], *, origin_connection_id: str | None = None) -> FanoutResult:
        """The event to the members who may see it; a content-free Withheld frame at its sequence to
        the other members (``parley.domain.audience`` decides), so their gap detection goes on.

        ``origin_connection_id``, the socket a post came from, is skipped if it is the poster's own
        (its client has the POST's answer); any other stays."""
        chat_id = envelope.metadata.chat_id
        targets, outsiders, roster = self._audience(chat_id, roster_version=envelope.metadata.roster_version)
        if not targets and not outsiders:
            return FanoutResult(0, 0, 0, 0)
        scope = audience.audience_of(envelope)
        seeing = [t for t in targets if audience.visible_to(t.user_id, roster.role(t.user_id), scope)]
        sender = envelope.metadata.actor.id
        kept = [t for t in seeing if not (t.connection_id == origin_connection_id and t.user_id == sender)]
        result, _ = self._push_all(
            kept, envelope, not_members=outsiders, frames=self._filtered(envelope, kept)
        )
        result = replace(result, origin_skipped=len(seeing) - len(kept))
        sequence = envelope.metadata.sequence
        if len(seeing) < len(targets) and sequence is not None:
            withheld = [t for t in targets if t not in seeing]
            marked, _ = self._push_frame(withheld, chat_id, withheld_frame(chat_id, sequence).encode())
            result = result.plus(marked)
        logger.info("fan-out done", extra={"chat_id": chat_id, **result.__dict__})
        return result

    def stream(self, chat_id: str, *, audience: Audience = "everyone") -> Stream:
        """Resolve the chat's audience once, for a burst of frames (an AI reply's chunks).

        Membership is checked when the stream opens; a reply lasts seconds, and the stored reply
        and its AIResponseCompleted go through the ordinary per-event fan-out anyway. ``audience``
        narrows it (a reply to a whisper streams to the whisper's people only)."""
        targets, _, roster = self._audience(chat_id)
        return Stream(self, [t for t in targets if visible_to(t.user_id, roster.role(t.user_id), audience)])

    def _roster(self, chat_id: str) -> Roster | None:
        loaded = self._chats.load(chat_id)
        if loaded is None:
            return None
        chat = loaded.chat
        roster = Roster(
            version=chat.roster_version,
            members=frozenset(p.id for p in chat.participants if p.kind == "human"),
            moderators=frozenset(p.id for p in chat.participants if chat.is_moderator(p.id)),
        )
        with self._rosters_lock:
            self._rosters[chat_id] = roster
            self._rosters.move_to_end(chat_id)
            while len(self._rosters) > ROSTER_CACHE_SIZE:
                self._rosters.popitem(last=False)
        return roster

    def _cached_roster(self, chat_id: str, version: int | None) -> Roster | None:
        if version is None:
            return None
        with self._rosters_lock:
            cached = self._rosters.get(chat_id)
            return cached if cached is not None and cached.version == version else None

    def _audience(
        self, chat_id: str, *, roster_version: int | None = None
    ) -> tuple[list[Subscriber], int, Roster]:
        """The members' subscribed sockets and the roster they were checked against; subscriptions
        of non-members are dropped on the way.

        Membership is checked at every fan-out, not only when the socket subscribed: against the
        roster of the event's own roster version when this container has it (exact: people and
        roles only change with the version), else against the chat read now (at least as new).
        """
        roster = self._cached_roster(chat_id, roster_version)
        pending: Future[Roster | None] | None = None
        if roster is None:
            # the two reads are independent: run them side by side, the push waits for the slower one
            pending = self._pool.submit(self._roster, chat_id)
        subscribers = self._connections.subscribers(chat_id, now=self._clock())
        if pending is not None:
            roster = pending.result()
        roster = roster or NO_ROSTER
        if not subscribers:
            return [], 0, roster
        outsiders = [s for s in subscribers if s.user_id not in roster.members]
        targets = [s for s in subscribers if s.user_id in roster.members]
        for stale in outsiders:
            self._connections.drop_subscription(chat_id, stale.connection_id)
        return targets, len(outsiders), roster

    def _filtered(self, envelope: Envelope[Any], targets: list[Subscriber]) -> dict[str, bytes] | None:
        """Each target member's frame when a read filter of the chat rules on this message (a
        rewritten text, or a marker without it); None when every target gets the same frame."""
        filters = self._read_filters
        if filters is None or envelope.event_type not in MESSAGE_EVENTS or not targets:
            return None
        if not filters.may_filter(envelope.metadata.extensions):
            return None
        loaded = self._chats.load(envelope.metadata.chat_id)
        if loaded is None:
            return None
        viewers = sorted({t.user_id for t in targets})
        verdicts = filters.verdicts(loaded.chat, [envelope.data.message], viewers)
        return {v: frame_of(verdicts.envelope(envelope, v)).encode() for v in viewers}

    def _push_all(
        self,
        targets: list[Subscriber],
        envelope: Envelope[Any],
        *,
        not_members: int = 0,
        frames: dict[str, bytes] | None = None,
    ) -> tuple[FanoutResult, set[str]]:
        """Push one event's frame to every target (or each member's own, from ``frames``); also
        returns the connections that turned out gone."""
        result, gone = self._push_frame(
            targets, envelope.metadata.chat_id, frame_of(envelope).encode(), frames
        )
        return replace(result, not_members=not_members), gone

    def _push_frame(
        self,
        targets: list[Subscriber],
        chat_id: str,
        frame: bytes,
        frames: dict[str, bytes] | None = None,
    ) -> tuple[FanoutResult, set[str]]:
        outcomes = list(
            self._pool.map(lambda s: self._push(chat_id, s, frames[s.user_id] if frames else frame), targets)
        )
        result = FanoutResult(
            delivered=outcomes.count("delivered"),
            gone=outcomes.count("gone"),
            failed=outcomes.count("failed"),
            not_members=0,
        )
        gone = {t.connection_id for t, outcome in zip(targets, outcomes, strict=True) if outcome == "gone"}
        return result, gone

    def _push(self, chat_id: str, subscriber: Subscriber, frame: bytes) -> str:
        try:
            self._pusher.push(subscriber.connection_id, frame)
        except ConnectionGoneError:
            # this row first: the connection row (which lists its chats) may have expired already
            self._connections.drop_subscription(chat_id, subscriber.connection_id)
            self._connections.remove_connection(subscriber.connection_id)
            return "gone"
        except PushFailedError:
            # the SDK already retried (bounded); one bad socket must not fail the others
            logger.warning("push failed", extra={"connection_id": subscriber.connection_id}, exc_info=True)
            return "failed"
        return "delivered"


class Stream:
    """Frames to one chat's audience, resolved once; sockets found gone are not pushed to again."""

    def __init__(self, broadcaster: Broadcaster, targets: list[Subscriber]) -> None:
        self._broadcaster = broadcaster
        self._targets = targets

    @property
    def audience(self) -> int:
        return len(self._targets)

    def push(self, envelope: Envelope[Any]) -> FanoutResult:
        if not self._targets:
            return FanoutResult(0, 0, 0, 0)
        result, gone = self._broadcaster._push_all(self._targets, envelope)
        if gone:
            self._targets = [t for t in self._targets if t.connection_id not in gone]
        return result
