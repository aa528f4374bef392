"""Rebuild a chat from its event log: compare the stored item with the fold, or repair it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.adapters.dynamodb import ChatRepository, LoadedChat
from parley.catalog import Envelope, parse_detail
from parley.clock import utc_now
from parley.domain.fold import Difference, differences, fold, repaired
from parley.domain.model import Outcome
from parley.errors import ChatNotFoundError, ContentionError

PAGE = 500
READ_ATTEMPTS = 5


@dataclass(frozen=True)
class RebuildReport:
    chat_id: str
    events: int
    differences: tuple[Difference, ...]
    repaired: bool = False


class RebuildService:
    def __init__(self, repository: ChatRepository, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._repo = repository
        self._clock = clock

    def log(self, chat_id: str, *, after: int = 0) -> Iterator[Envelope[Any]]:
        """The chat's log in sequence order, page by page, through the chat event query."""
        while True:
            details, more = self._repo.events(chat_id, after=after, limit=PAGE)
            for detail in details:
                yield parse_detail(detail)
            if not more or not details:
                return
            after = int(details[-1]["metadata"]["sequence"])

    def _consistent_read(self, chat_id: str) -> tuple[LoadedChat, list[Envelope[Any]]]:
        """The stored item and the whole log at one version: every commit writes both together, so
        an unchanged version before and after the log read means the log is the item's own."""
        for _ in range(READ_ATTEMPTS):
            before = self._repo.load(chat_id)
            if before is None:
                raise ChatNotFoundError("no such chat", chat_id=chat_id)
            events = list(self.log(chat_id))
            after = self._repo.load(chat_id)
            if after is not None and after.version == before.version:
                return before, events
        raise ContentionError(f"chat {chat_id} kept changing while its log was read", chat_id=chat_id)

    def check(self, chat_id: str) -> RebuildReport:
        loaded, events = self._consistent_read(chat_id)
        folded = fold(events)
        assert folded is not None, "a stored chat has at least its ChatCreated"
        return RebuildReport(chat_id, len(events), tuple(differences(loaded.chat, folded)))

    def repair(self, chat_id: str) -> RebuildReport:
        """Write the fold over the stored item, conditioned on the version read (a concurrent command
        wins and the repair raises ConcurrentWriteError: run it again)."""
        loaded, events = self._consistent_read(chat_id)
        folded = fold(events)
        assert folded is not None, "a stored chat has at least its ChatCreated"
        found = tuple(differences(loaded.chat, folded))
        if not found:
            return RebuildReport(chat_id, len(events), found)
        fixed = repaired(loaded.chat, folded)
        self._repo.commit(loaded, Outcome(chat=fixed), (), now=self._clock())
        return RebuildReport(chat_id, len(events), found, repaired=True)
