"""Chat queries: what a member may read (the chat, its messages, its event log), and trusted reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from parley.adapters.dynamodb import ChatRepository, LoadedChat
from parley.catalog import MessageView
from parley.domain import audience
from parley.domain.model import Chat
from parley.services.read_filters import ReadFilters
from parley.services.unit_of_work import Identity, not_a_member

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None


class ChatQueries:
    def __init__(self, repository: ChatRepository, read_filters: ReadFilters | None = None) -> None:
        self._repo = repository
        self._read_filters = read_filters

    def get_chat(self, who: Identity, chat_id: str) -> Chat:
        return self._require_member(chat_id, who).chat

    def read_as_member(self, who: Identity, chat_id: str) -> LoadedChat:
        """The chat as read for a member (404 otherwise), for a change that follows to reuse as its
        first read (``post_message``'s ``preloaded``)."""
        return self._require_member(chat_id, who)

    def list_messages(
        self, who: Identity, chat_id: str, *, after: int | None, before: int | None, limit: int
    ) -> Page[MessageView]:
        loaded = self._require_member(chat_id, who)
        if (after or 0) >= loaded.chat.last_message_sequence:
            return Page([], None)  # nothing newer: no read (history is the log, parley.adapters.history)
        items, more = self._repo.messages(chat_id, after=after, before=before, limit=limit)
        cursor = str(items[-1].sequence) if more and items else None
        # a whisper to others is skipped (history has gaps, the cursor still moves past it)
        items = [m for m in items if audience.message_visible_to(who.user_id, m)]
        if self._read_filters is not None:
            items = self._read_filters.messages_for(loaded.chat, who.user_id, items)
        return Page(items, cursor)

    def list_events(
        self, who: Identity, chat_id: str, *, after: int | None, limit: int
    ) -> Page[dict[str, Any]]:
        loaded = self._require_member(chat_id, who)
        items, more = self._repo.events(chat_id, after=after, limit=limit)
        cursor = str(items[-1]["metadata"]["sequence"]) if more and items else None
        # what this member may not see reads as a Withheld marker at its sequence, as on the sockets
        screened = audience.screen_details(items, who.user_id, loaded.chat.role_of(who.user_id))
        return Page(self.readable(loaded.chat, who.user_id, screened), cursor)

    def readable(self, chat: Chat, viewer: str, details: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Event-log rows the viewer may see (screened by audience first), as the chat's read filters
        let them read them."""
        if self._read_filters is None:
            return details
        return self._read_filters.details_for(chat, viewer, details)

    def load(self, chat_id: str) -> Chat | None:
        """The chat as stored, for trusted internal callers (the AI responder); no membership check."""
        loaded = self._repo.load(chat_id)
        return loaded.chat if loaded else None

    def recent_messages(self, chat_id: str, *, up_to: int, limit: int) -> list[MessageView]:
        """The ``limit`` messages up to sequence ``up_to``, oldest first (the AI responder's context)."""
        items, _ = self._repo.messages(chat_id, after=max(0, up_to - limit), before=up_to + 1, limit=limit)
        return items

    def _require_member(self, chat_id: str, who: Identity) -> LoadedChat:
        loaded = self._repo.load(chat_id)
        if loaded is None or not loaded.chat.human(who.user_id):
            raise not_a_member(chat_id)
        return loaded
