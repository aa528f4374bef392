"""The inbox projection: the relay applies it to each batch of the events table's stream once the
batch is on the bus, so the inbox read model needs no bus route, queue or function of its own.

Every write is forward-only (conditioned on a sequence), so a duplicate, a late row or a batch handed
back again changes nothing: no idempotency record is needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.adapters.inbox import InboxStore
from parley.catalog import Envelope
from parley.domain.inbox import InboxFold, fold_inbox
from parley.errors import StoreError
from parley.observability import logger


class InboxProjection:
    def __init__(self, store: InboxStore) -> None:
        self._store = store

    def project(self, envelopes: Sequence[Envelope[Any]]) -> set[str]:
        """Apply a stream batch (in stream order); returns the event id to hand back, if any.

        A chat's rows are folded first (its newest message written once, each poster's marker once),
        so a busy chat's batch costs as many writes as one post. When a chat's writes fail, its first
        row of the batch is handed back: the stream brings back that row and every later one, so none
        of that chat's rows is skipped; chats seen after it come back whole and are not written now."""
        by_chat: dict[str, list[Envelope[Any]]] = {}
        for envelope in envelopes:
            by_chat.setdefault(envelope.metadata.chat_id, []).append(envelope)
        for chat_id, rows in by_chat.items():
            try:
                self.apply(chat_id, fold_inbox(rows))
            except StoreError:
                logger.exception(
                    "inbox projection failed; the stream hands the rows back", extra={"chat_id": chat_id}
                )
                return {rows[0].metadata.event_id}
        return set()

    def apply(self, chat_id: str, folded: InboxFold) -> None:
        """Write what a fold of the chat's rows gives: rows already at or past it (by sequence, then by
        the message's version: a MessageUpdated of the latest message changes its preview) stay."""
        last = folded.last
        if last is not None:
            self._store.record_message(
                chat_id, last.sequence, last.model_dump_json(), version=folded.version(last.sequence)
            )
        for sequence, whisper in folded.private.items():
            self._store.record_private(
                chat_id, sequence, whisper.model_dump_json(), version=folded.version(sequence)
            )
        for user_id, sequence in folded.markers.items():
            self._store.move_marker(user_id, chat_id, sequence)
