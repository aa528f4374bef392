"""Conversation analytics reports: one chat's (its members) and the daily summary across chats.

A chat's report is folded from the chat's own event log when it is read (what analytics may see of
it, ``_analytics_model.log``), with the blocks the log has moved past cached in the extension's rows
(``analytics#<chat id>`` / ``kv#fold#<block>``), so a report reads the log only after them; facts
the extension stored per event before are still read. The summary reads the extension's tally rows
(``analytics#_rollup#<day>#<shard>``, one paginated Query per day shard, and the older
``analytics#_rollup`` items). Both use the extension's pure arithmetic; neither loads the extension
or its SDK, so the api Lambda starts without the extension platform.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from parley.clock import utc_now
from parley.domain.model import Install
from parley.errors import InvalidRequestError
from parley.extensions.builtin import _analytics_model as model
from parley.services.chats import ChatService, Identity

DEFAULT_SUMMARY_DAYS = 30
LOG_PAGE = 500
DAY_PAGE = 100
"""Log entries per read when folding one chat's day: most chats say less than this a day."""


class StateReader(Protocol):
    """The extension's rows on one chat, read only (the extensions table's adapter)."""

    def get(self, key: str) -> Any | None: ...

    def items_under(self, prefix: str) -> dict[str, Any]: ...

    def tallies(self, prefix: str) -> dict[str, dict[str, dict[str, Any]]]: ...

    def put(self, key: str, value: Any, *, ttl_seconds: int | None = None) -> None: ...


class EventLog(Protocol):
    """The chat's event log, every entry as stored (the chat repository)."""

    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]: ...

    def active_chats(self, day: str) -> dict[str, int]:
        """The chats a message was stored in on a UTC day, each with the sequence its day starts at."""
        ...


_SKEW = timedelta(seconds=model.DAY_SKEW_SECONDS)


def _occurred(detail: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(detail["metadata"]["occurred_at"]).replace("Z", "+00:00"))


def status_of(install: Install | None) -> model.Status:
    """The analytics extension on a chat: while it is off, nothing new is counted."""
    return "not_installed" if install is None else install.status


class AnalyticsService:
    def __init__(
        self,
        chats: ChatService,
        state: Callable[[str, str], StateReader],
        log: EventLog,
        *,
        clock: Callable[[], datetime] = utc_now,
        read_concurrency: int = 8,
    ) -> None:
        self._chats = chats
        self._state = state
        self._log = log
        self._clock = clock
        self._read_concurrency = read_concurrency

    def chat_report(self, who: Identity, chat_id: str) -> model.ChatAnalytics:
        """A member's view of the chat's analytics; outsiders get ChatNotFoundError like everywhere."""
        chat = self._chats.get_chat(who, chat_id)
        install = chat.extensions.get(model.EXTENSION_ID)
        config = (
            model.AnalyticsConfig.model_validate(dict(install.config)) if install else model.AnalyticsConfig()
        )
        now = self._clock()
        facts = model.within_retention(
            self._facts(chat_id, config.retention_days), now, config.retention_days
        )
        return model.chat_report(
            chat_id,
            facts,
            status=status_of(install),
            retention_days=config.retention_days,
            now=now,
        )

    def _facts(self, chat_id: str, retention_days: int) -> model.Facts:
        """What analytics counts in the chat: the cached blocks, the log after them (its finished
        blocks cached on the way), and the facts stored per event before (the same facts, by slot)."""
        store = self._state(model.EXTENSION_ID, chat_id)
        stored = store.items_under(model.FACTS_PREFIX)  # ``f#``, ``facts#`` and ``fold#`` keys alike
        cached = model.cached_prefix(stored)
        fresh: dict[int, model.Block] = {}
        after = len(cached) * model.BLOCK - 1 if cached else 0
        while True:
            details, more = self._log.events(chat_id, after=after, limit=LOG_PAGE)
            after = max(after, model.fold_into(fresh, details))
            if not more or not details:
                break
        for block in model.complete(fresh, after):
            store.put(model.fold_key(block), fresh[block], ttl_seconds=retention_days * model.DAY_SECONDS)
        return {**model.merge_stored(stored), **model.counted([*cached.values(), *fresh.values()])}

    def summary(self, start: date | None, end: date | None) -> model.AnalyticsSummary:
        """Operators' figures over [start, end] (UTC days; default the last 30), at most
        ``MAX_SUMMARY_DAYS`` days; the caller has checked that an operator asks."""
        now = self._clock()
        end = end or now.date()
        start = start or end - timedelta(days=DEFAULT_SUMMARY_DAYS - 1)
        if start > end:
            raise InvalidRequestError("`from` must not be after `to`", field="from")
        if (end - start).days + 1 > model.MAX_SUMMARY_DAYS:
            raise InvalidRequestError(f"at most {model.MAX_SUMMARY_DAYS} days at a time", field="to")
        days = model.days_between(start, end)
        rollup = self._state(model.EXTENSION_ID, model.ROLLUP_PARTITION)
        keys = [k for day in days for k in model.rollup_keys(day)]
        partitions = [p for day in days for p in model.rollup_partitions(day)]
        with ThreadPoolExecutor(max_workers=self._read_concurrency) as pool:
            items = dict(zip(keys, pool.map(rollup.get, keys), strict=True))
            tallies = dict(zip(partitions, pool.map(self._tallies, partitions), strict=True))
            logged = self._logged(pool, days, now)
        return model.summary_report(start, end, items, now=now, tallies=tallies, logged=logged)

    def _logged(self, pool: ThreadPoolExecutor, days: list[str], now: datetime) -> dict[str, Any]:
        """Day -> chat -> the ``LOGGED`` figures of each chat active that day: a finished day's from
        its cache (written by the first summary that folds it), the rest folded from the chats' logs."""
        cached = dict(zip(days, pool.map(self._cached_day, days), strict=True))
        active = dict(zip(days, pool.map(self._log.active_chats, days), strict=True))
        windows = self._windows()
        todo = [
            (day, chat, first, windows.get(chat, []))
            for day in days
            for chat, first in active[day].items()
            if (cached[day].get(chat) or {}).get("a", [None]) != windows.get(chat, [])
        ]
        folded = pool.map(lambda job: self._fold_day(*job, now=now), todo)
        for (day, chat_id, _, _), counts in zip(todo, folded, strict=True):
            cached[day][chat_id] = counts
        return cached

    def _windows(self) -> dict[str, list[int]]:
        """Chat -> the ``backfill_through`` of each enabling of analytics that asked for a backfill."""
        rows = self._state(model.EXTENSION_ID, model.BACKFILL_PARTITION).tallies("")
        return {chat: sorted(int(t) for t in row["tags"].get("a", ())) for chat, row in rows.items()}

    def _cached_day(self, day: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for partition in model.logged_partitions(day):
            found.update(self._state(model.EXTENSION_ID, partition).items_under(""))
        return found

    def _fold_day(
        self, day: str, chat_id: str, first: int, windows: list[int], *, now: datetime
    ) -> dict[str, Any]:
        """One chat's figures of one day, from its log from the day's first message until the log is
        past the day (and its skew); cached once the day is final, since the log only grows after it."""
        end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(seconds=model.DAY_SECONDS)
        blocks: dict[int, model.Block] = {-1: {"e": {}, "a": windows}}  # enablings logged after the day
        after = first - 1
        while True:
            details, more = self._log.events(chat_id, after=after, limit=DAY_PAGE)
            after = max(after, model.fold_into(blocks, details))
            if not more or not details or _occurred(details[-1]) > end + _SKEW:
                break
        counts = model.day_counts(chat_id, model.counted(blocks.values()), day, windows)
        if now >= end + _SKEW:
            ttl = model.ROLLUP_RETENTION_DAYS * model.DAY_SECONDS
            self._state(model.EXTENSION_ID, model.logged_partition(day, chat_id)).put(
                chat_id, counts, ttl_seconds=ttl
            )
        return counts

    def _tallies(self, partition: str) -> dict[str, dict[str, dict[str, Any]]]:
        """One day shard's tally rows: one Query, page by page."""
        return self._state(model.EXTENSION_ID, partition).tallies("")
