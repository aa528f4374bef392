"""The inbox projection: the relay applies it to each batch of the events table's stream once the
batch is on the bus, so the inbox read model needs no bus route, queue or function of its own.

Only whispers reach the table from the stream: a public post's preview and its poster's marker ride
the chat head its own transaction writes (``parley.domain.inbox.ChatLine``). The rebuild command
still applies the whole fold (``apply``), which a chat whose head carries no preview yet reads.

Every write is forward-only (conditioned on a sequence), so a duplicate, a late row or a batch handed
back again changes nothing: no idempotency record is needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.adapters.inbox import InboxStore
from parley.catalog import Envelope
from parley.domain import audience
from parley.domain.inbox import PROJECTED, InboxFold, fold_inbox
from parley.errors import StoreError
from parley.observability import logger


def _whisper(envelope: Envelope[Any]) -> bool:
    return envelope.event_type in PROJECTED and not isinstance(audience.audience_of(envelope), str)


class InboxProjection:
    def __init__(self, store: InboxStore) -> None:
        self._store = store

    def project(self, envelopes: Sequence[Envelope[Any]]) -> set[str]:
        """Apply a stream batch's whispers (in stream order); returns the event id to hand back, if any.

        A chat's rows are folded first (each whisper's row written once), so a public post costs
        the inbox no write at all. When a chat's writes fail, its first
        row of the batch is handed back: the stream brings back that row and every later one, so none
        of that chat's rows is skipped; chats seen after it come back whole and are not written now."""
        by_chat: dict[str, list[Envelope[Any]]] = {}
        for envelope in envelopes:
            if _whisper(envelope):
                by_chat.setdefault(envelope.metadata.chat_id, []).append(envelope)
        for chat_id, rows in by_chat.items():
            try:
                self.apply_private(chat_id, fold_inbox(rows))
            except StoreError:
                logger.exception(
                    "inbox projection failed; the stream hands the rows back", extra={"chat_id": chat_id}
                )
                return {rows[0].metadata.event_id}
        return set()

    def apply_private(self, chat_id: str, folded: InboxFold) -> None:
        """The whispers' rows: each in its latest version, forward only."""
        for sequence, whisper in folded.private.items():
            self._store.record_private(
                chat_id, sequence, whisper.model_dump_json(), version=folded.version(sequence)
            )

    def apply(self, chat_id: str, folded: InboxFold) -> None:
        """Write what a fold of the chat's rows gives: rows already at or past it (by sequence, then by
        the message's version: a MessageUpdated of the latest message changes its preview) stay."""
        last = folded.last
        if last is not None:
            self._store.record_message(
                chat_id, last.sequence, last.model_dump_json(), version=folded.version(last.sequence)
            )
        self.apply_private(chat_id, folded)
        for user_id, sequence in folded.markers.items():
            self._store.move_marker(user_id, chat_id, sequence)
