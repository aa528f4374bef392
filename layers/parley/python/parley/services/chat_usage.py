"""One extension's usage in one chat on a UTC day, for operators
(``GET /extensions/{extension_id}/usage/chats/{chat_id}``).

Folded from the chat's own log when asked (``parley.domain.extension_usage``), so counting costs a
post nothing: no write, read or metric per event, whether the chat enabled the extension or not. The
read is bounded: the day's first sequence is found by bisecting the log on ``occurred_at`` (one
single-item Query per step), then the day is read in pages of ``LOG_PAGE``, at most
``MAX_LOG_ENTRIES`` entries an answer (``truncated`` past that). A finished day's answer is kept in
one row of the extension's table (``<extension id>#_usage#<day>``, key the chat id), read first.
The day's costliest chats are those of the active-day index folded the same way, a bounded number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from parley.clock import utc_now
from parley.domain.extension_usage import DayTally, occurred_at
from parley.errors import ChatNotFoundError, ExtensionNotFoundError
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.usage import HOOK_CALL_USD, USAGE_USD, ExtensionChatsUsage, ExtensionChatUsage
from parley.routing import extension_route

if TYPE_CHECKING:
    from parley.adapters.dynamodb import LoadedChat

LOG_PAGE = 500
MAX_LOG_ENTRIES = 10_000
"""Log entries one answer reads at most (20 pages): a chat busier than this in a day is answered
``truncated``, its figures a lower bound."""
DAY_SKEW = timedelta(seconds=300)
"""Clocks' skew allowed between writers (as the analytics fold's): the read starts this long before
the day and goes this far past it, and a day is final this long after its end."""
MAX_CHATS = 100
"""Chats one list of the day's costliest folds at most (by chat id; ``truncated`` past that)."""
LIST_LOG_ENTRIES = 1_000
"""Log entries the list reads of each chat (the api's 10 s bound for 100 chats): a busier chat is
listed ``truncated`` and not cached; asked for by id, it is read up to ``MAX_LOG_ENTRIES``."""
CACHE_PARTITION = "_usage"
CACHE_TTL_SECONDS = 90 * 86_400


class EventLog(Protocol):
    """The chat's event log in sequence order (the chat repository)."""

    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]: ...

    def load(self, chat_id: str) -> LoadedChat | None: ...

    def active_chats(self, day: str) -> dict[str, int]:
        """The chats a message was stored in on a UTC day (the active-day index)."""
        ...


class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None: ...


class ChatUsageService:
    def __init__(
        self,
        registry: Callable[[], Mapping[str, ExtensionDocument]],
        log: EventLog,
        cache: Callable[[str, str], Cache],
        *,
        clock: Callable[[], datetime] = utc_now,
        read_concurrency: int = 8,
    ) -> None:
        self._registry = registry
        self._log = log
        self._cache = cache
        self._clock = clock
        self._read_concurrency = read_concurrency

    def chat_daily(self, extension_id: str, chat_id: str, day: date | None) -> ExtensionChatUsage:
        """A registered extension's figures in one chat for the day (default today, UTC); the caller
        has checked that an operator asks."""
        document = self._document(extension_id)
        usage = self._fold(document, chat_id, day or self._clock().date(), cap=MAX_LOG_ENTRIES)
        if usage is None:
            raise ChatNotFoundError(f"no chat {chat_id!r}", chat_id=chat_id)
        return usage

    def top_chats(self, extension_id: str, day: date | None, limit: int) -> ExtensionChatsUsage:
        """The chats of the day's active-day index (those that stored a message that day) where the
        extension cost most, at most ``MAX_CHATS`` of them folded (by chat id), ``read_concurrency``
        at a time."""
        document = self._document(extension_id)
        day = day or self._clock().date()
        active = sorted(self._log.active_chats(day.isoformat()))
        chosen = active[:MAX_CHATS]
        with ThreadPoolExecutor(max_workers=self._read_concurrency) as pool:
            folds = pool.map(lambda c: self._fold(document, c, day, cap=LIST_LOG_ENTRIES), chosen)
            folded = [u for u in folds if u is not None]
        costly = sorted(
            (u for u in folded if u.events or u.writes), key=lambda u: (-u.estimated_usd, u.chat_id)
        )
        return ExtensionChatsUsage(
            extension_id=extension_id,
            day=day,
            items=costly[:limit],
            active_chats=len(active),
            folded=len(chosen),
            truncated=len(active) > len(chosen),
        )

    def _document(self, extension_id: str) -> ExtensionDocument:
        document = self._registry().get(extension_id)
        if document is None:
            raise ExtensionNotFoundError(f"no extension {extension_id!r} is registered")
        return document

    def _fold(
        self, document: ExtensionDocument, chat_id: str, day: date, *, cap: int
    ) -> ExtensionChatUsage | None:
        """The chat's figures of the day (None: no such chat), reading at most ``cap`` log entries; a
        finished day's from its cache (where a fold cut short of ``MAX_LOG_ENTRIES`` is not kept)."""
        cache = self._cache(document.id, f"{CACHE_PARTITION}#{day.isoformat()}")
        cached = cache.get(chat_id)
        if cached is not None:
            with suppress(ValidationError):  # a row of an older shape is folded again
                return ExtensionChatUsage.model_validate(cached)
        loaded = self._log.load(chat_id)
        if loaded is None:
            return None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        tally = DayTally(document.id, extension_route(document).pattern, start, start + timedelta(days=1))
        truncated = self._read(tally, chat_id, loaded.chat.last_event_sequence, cap)
        final = self._clock() >= tally.end + DAY_SKEW
        usage = _answer(tally, chat_id, day, truncated=truncated, final=final)
        if final and not (truncated and cap < MAX_LOG_ENTRIES):
            cache.put(chat_id, usage.model_dump(mode="json"), ttl_seconds=CACHE_TTL_SECONDS)
        return usage

    def _read(self, tally: DayTally, chat_id: str, last: int, cap: int) -> bool:
        """Folds the day's entries into ``tally``; True if it stopped at the cap with more to read."""
        after = self._first(chat_id, last, tally.start - DAY_SKEW) - 1
        while tally.read < cap:
            limit = min(LOG_PAGE, cap - tally.read)
            details, more = self._log.events(chat_id, after=after, limit=limit)
            tally.add(details)
            if not more or not details or occurred_at(details[-1]) >= tally.end + DAY_SKEW:
                return False
            after = tally.last_sequence
        return True

    def _first(self, chat_id: str, last: int, since: datetime) -> int:
        """The first sequence stamped at or after ``since`` (``last + 1`` for none): a bisection, about
        log2(last) single-entry reads, on a log whose stamps grow with its sequences (within the skew)."""
        low, high = 1, last + 1
        while low < high:
            middle = (low + high) // 2
            details, _ = self._log.events(chat_id, after=middle - 1, limit=1)
            if not details or occurred_at(details[0]) >= since:
                high = middle
            else:
                low = middle + 1
        return low


def _answer(tally: DayTally, chat_id: str, day: date, *, truncated: bool, final: bool) -> ExtensionChatUsage:
    writes = sum(tally.writes.values())
    usd = (
        tally.events * USAGE_USD["ExtensionInvocations"]
        + tally.hook_calls * HOOK_CALL_USD
        + writes * USAGE_USD["ExtensionWrites"]
    )
    return ExtensionChatUsage(
        extension_id=tally.extension_id,
        chat_id=chat_id,
        day=day,
        events=tally.events,
        hook_calls=tally.hook_calls,
        invocations=tally.events + tally.hook_calls,
        writes=writes,
        writes_by_type=dict(sorted(tally.writes.items())),
        estimated_usd=round(usd, 6),
        truncated=truncated,
        last_sequence=tally.last_sequence,
        final=final,
    )
