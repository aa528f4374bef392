"""The inbox read model: the chat head carries each chat's latest public message and posters'
markers (written by the post's own transaction), the inbox table the members' explicit markers and
the whispers (the relay applies ``InboxProjection`` to the events table's stream); read by GET
/chats, moved by the member's POST /chats/{chat_id}/read, and rebuilt from the chats' logs by a
command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from parley.adapters.connections import ConnectionRepository
from parley.adapters.dynamodb import ChatRepository, LoadedChat
from parley.adapters.inbox import InboxRow, InboxStore
from parley.catalog import ReadMarkerMoved, new_event
from parley.clock import utc_now
from parley.domain.inbox import (
    ChatLine,
    InboxFold,
    InboxView,
    LastMessage,
    PrivateMessage,
    fold_inbox,
    preview,
    read_up_to,
    view_for,
)
from parley.domain.model import Chat
from parley.ports import Pusher
from parley.realtime.direct import push_to_member
from parley.realtime.frames import frame_of
from parley.services.inbox_projection import InboxProjection
from parley.services.read_filters import ReadFilters
from parley.services.rebuild import RebuildService
from parley.services.unit_of_work import Identity, not_a_member


@dataclass(frozen=True)
class InboxEntry:
    chat: Chat
    last_message: LastMessage | None
    last_read_sequence: int
    unread: int


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxEntry]
    next: str | None


@dataclass(frozen=True)
class ReadResult:
    chat_id: str
    last_read_sequence: int
    unread: int
    moved: bool


def _view(viewer: str, row: InboxRow) -> InboxView:
    """The row as this member may see it: whispers to others neither counted nor previewed."""
    private = [PrivateMessage.model_validate_json(p) for p in row.private]
    return view_for(viewer, row.last_message, row.last_sequence, private, row.last_read_sequence)


def _entry(viewer: str, chat: Chat, row: InboxRow) -> InboxEntry:
    view = _view(viewer, row)
    return InboxEntry(chat, view.last, row.last_read_sequence, view.unread)


class InboxService:
    def __init__(
        self,
        store: InboxStore,
        repository: ChatRepository,
        connections: ConnectionRepository,
        pusher: Callable[[], Pusher],
        *,
        clock: Callable[[], datetime] = utc_now,
        read_filters: ReadFilters | None = None,
    ) -> None:
        self._store = store
        self._filters = read_filters  # None: the rebuild command's, which only projects
        self._repo = repository
        self._connections = connections
        self._pusher = pusher  # a factory: GET /chats and the rebuild never push, so never build a client
        self._clock = clock

    def rebuild(self, chat_id: str) -> InboxFold:
        """Feed the inbox the chat's whole log again: rows behind it catch up, none moves back."""
        folded = fold_inbox(RebuildService(self._repo).log(chat_id))
        InboxProjection(self._store).apply(chat_id, folded)
        return folded

    def rebuild_all(self) -> int:
        chat_ids = self._store.chat_ids()
        for chat_id in chat_ids:
            self.rebuild(chat_id)
        return len(chat_ids)

    def list_chats(self, who: Identity, *, limit: int, cursor: str | None) -> InboxPage:
        chat_ids, next_cursor = self._store.memberships(who.user_id, after=cursor, limit=limit)
        mine = [found for found in self._repo.load_many(chat_ids) if found.chat.human(who.user_id)]
        rows = self._store.rows(who.user_id, {f.chat.chat_id: self._line(f) for f in mine})
        viewer = who.user_id
        entries = [self._filtered(viewer, _entry(viewer, f.chat, rows[f.chat.chat_id])) for f in mine]
        return InboxPage(entries, next_cursor)

    def _line(self, loaded: LoadedChat) -> ChatLine | None:
        """The head's line, its preview's text read from the message when the head left it out."""
        line = loaded.line
        if line is None or line.last is None or not line.spilled:
            return line
        message = self._repo.message(loaded.chat.chat_id, line.last.sequence)
        return line if message is None else replace(line, last=preview(message), spilled=False)

    def _filtered(self, viewer: str, entry: InboxEntry) -> InboxEntry:
        """The preview as the viewer reads the message: a read filter's hide or rewrite applies to the
        chat list as to the history, else a hidden message's first characters would show there. Only a
        chat with a read filter enabled pays for loading the message (one read)."""
        last = entry.last_message
        if last is None or self._filters is None or not self._filters.filters(entry.chat):
            return entry
        message = self._repo.message(entry.chat.chat_id, last.sequence)
        if message is None:
            return entry
        [seen] = self._filters.messages_for(entry.chat, viewer, [message])
        if seen.filtered is None:
            return entry
        shown = preview(seen).model_copy(update={"filtered": seen.filtered})
        return replace(entry, last_message=shown)

    def mark_read(self, who: Identity, chat_id: str, sequence: int) -> ReadResult:
        """Move the caller's marker forward (a marker past the last message stops at it); on a move,
        tell the caller's own sockets on the chat, never other members'."""
        loaded = self._repo.load(chat_id)
        if loaded is None or not loaded.chat.human(who.user_id):
            raise not_a_member(chat_id)
        target = min(sequence, loaded.chat.last_message_sequence)
        ahead = target > read_up_to(0, loaded.line, who.user_id)  # a person has read what they posted
        moved = ahead and self._store.move_marker(who.user_id, chat_id, target)
        row = self._store.rows(who.user_id, {chat_id: loaded.line})[chat_id]
        result = ReadResult(chat_id, row.last_read_sequence, _view(who.user_id, row).unread, moved)
        if moved:
            self._push_to_own_sockets(who, result)
        return result

    def _push_to_own_sockets(self, who: Identity, result: ReadResult) -> None:
        moved = ReadMarkerMoved(
            user_id=who.user_id, last_read_sequence=result.last_read_sequence, unread=result.unread
        )
        frame = frame_of(new_event(moved, chat_id=result.chat_id, actor=who.actor)).encode()
        push_to_member(self._connections, self._pusher, result.chat_id, who.user_id, frame, now=self._clock())
