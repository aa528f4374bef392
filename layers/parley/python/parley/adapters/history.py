"""Message history read from the event log: a post's MessageStored row *is* the message.

A post writes no message row of its own (issue 15, A4): ``GET /chats/{id}/messages``, the AI's
context, the inbox preview and an idempotent send's replay read the MessageStored rows of the chat's
event log, which is keyed by the event sequence, not the message sequence. Message sequences have no
gaps and each message is one event, so message ``m`` sits at event sequence ``f(m) >= m``, ``f``
increasing; to find where ``m`` starts without reading the chat's whole log, the post of every
``ANCHOR_EVERY``-th message (1, 1 + ANCHOR_EVERY, ...) also writes a small *anchor* item naming its
event sequence, in the same transaction. A page starts at the anchor of its first message's block
and reads forward, keeping only MessageStored rows: at most ``ANCHOR_EVERY - 1`` messages (and the
events between them) are read and dropped.

Migration (dual read): messages posted before this change also have a row in ``parley-messages``
and no anchors. A page whose first block has no anchor reads that table first and takes the run of
rows it finds; the rest comes from the log (every message is in the log either way, so a row that
is missing is only slower, never lost). Where an old chat's first anchor is not there yet, the log
is walked down from the next anchor (or its end) to the message before the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException

from parley.adapters.tables import EventRecord, IdempotencyRecord, MessageRecord
from parley.catalog import MessageView
from parley.domain.read_filters import MessageKey, MessageVerdicts
from parley.errors import StoreError
from parley.observability import logger

STORED = "MessageStored"
ANCHOR_EVERY = 32
"""One anchor per this many messages: a post pays 1/32 of a small item; a page reads at most 31
messages (and the events between them) it does not return."""

BATCH_GET_KEYS = 100
"""DynamoDB's BatchGetItem limit."""


def anchor_key(chat_id: str, message_sequence: int) -> str | None:
    """The anchor item a message's post writes, if it starts a block (else None)."""
    if (message_sequence - 1) % ANCHOR_EVERY:
        return None
    return _block_key(chat_id, _block(message_sequence))


def anchor_record(chat_id: str, message_sequence: int, event_sequence: int) -> IdempotencyRecord | None:
    key = anchor_key(chat_id, message_sequence)
    if key is None:
        return None
    return IdempotencyRecord(key, data=json.dumps({"event_sequence": event_sequence}))


def verdicts_key(chat_id: str, sequence: int, version: int = 1) -> str:
    """One item per message version: a verdict on the posted text never answers for an update
    (version 1 keeps the key it had before messages had versions)."""
    suffix = f"#v{version}" if version > 1 else ""
    return f"read-verdicts#{chat_id}#{sequence}{suffix}"


def _block(message_sequence: int) -> int:
    return (message_sequence - 1) // ANCHOR_EVERY


def _block_key(chat_id: str, block: int) -> str:
    return f"message-anchor#{chat_id}#{block}"


# -- one stored row -> one history item ---------------------------------------------------------------


def stored_message(record: EventRecord) -> MessageView | None:
    """The history item an event-log row holds: a MessageStored row's message, None for any other
    event. The one place that turns a stored event row into what history shows."""
    if record.event_type != STORED:
        return None
    if record.latest:  # an extension updated it: its latest version (MessageUpdated's projection)
        return MessageView.model_validate_json(record.latest)
    return MessageView.model_validate(json.loads(record.detail_json())["data"]["message"])


def latest_version(
    message: MessageView, event_sequence: int, revision: int | None = None
) -> tuple[EventRecord, list[Any], Any]:
    """The update (item, actions, condition) that makes ``message`` the latest version its
    MessageStored row shows: only forward, never at or below the version it holds, nor at or below
    the extension's ``revision`` it holds. The row's ``detail``, the event as published, is left as
    it was."""
    stored = EventRecord.edit_version
    condition = (EventRecord.event_type == STORED) & (stored.does_not_exist() | (stored < message.version))
    actions = [
        EventRecord.latest.set(message.model_dump_json(exclude={"filtered"})),
        EventRecord.edit_version.set(message.version),
    ]
    if revision is not None:
        shown = EventRecord.revision
        condition = condition & (shown.does_not_exist() | (shown < revision))
        actions.append(EventRecord.revision.set(revision))
    return EventRecord(message.chat_id, event_sequence), actions, condition


def legacy_message(record: MessageRecord) -> MessageView:
    """A message row written before the log became the history (dual read)."""
    return MessageView(
        message_id=record.message_id,
        chat_id=record.chat_id,
        sequence=int(record.sequence),
        sender_id=record.sender_id,
        sender_name=record.sender_name,
        sender_kind=record.sender_kind,
        text=record.text,
        client_message_id=record.client_message_id,
        created_at=datetime.fromisoformat(record.created_at),
        to=tuple(record.to) if record.to else None,
        blocks=json.loads(record.blocks) if record.blocks else None,
        blocks_version=int(record.blocks_version) if record.blocks_version else None,
        version=int(record.edit_version or 1),
        edited_at=datetime.fromisoformat(record.edited_at) if record.edited_at else None,
    )


# -- reads --------------------------------------------------------------------------------------------


class History:
    """A chat's messages by message sequence, over the event log (and the old message rows)."""

    def messages(
        self, chat_id: str, *, after: int | None, before: int | None, limit: int
    ) -> tuple[list[MessageView], bool]:
        """Messages in sequence order strictly between ``after`` and ``before``; and whether more follow."""
        low = (after or 0) + 1
        high = before - 1 if before is not None else None
        if high is not None and high < low:
            return [], False
        try:
            return self._page(chat_id, low, high, limit)
        except PynamoDBException as exc:
            raise StoreError(f"could not read the messages of chat {chat_id}") from exc

    def _page(self, chat_id: str, low: int, high: int | None, limit: int) -> tuple[list[MessageView], bool]:
        anchors = self._anchors(chat_id, _block(low))
        found = [] if _block(low) in anchors else self._legacy(chat_id, low, high, limit + 1)
        start = low + len(found)
        if len(found) <= limit and (high is None or start <= high):
            if _block(start) != _block(low):
                anchors = self._anchors(chat_id, _block(start))
            found += self._logged(chat_id, start, high, limit + 1 - len(found), anchors)
        return found[:limit], len(found) > limit

    def event_message(self, chat_id: str, event_sequence: int) -> MessageView | None:
        try:
            return stored_message(EventRecord.get(chat_id, event_sequence, consistent_read=True))
        except EventRecord.DoesNotExist:
            return None

    def _anchors(self, chat_id: str, block: int) -> dict[int, int]:
        """The event sequences of this block's anchor and the next one's, where they exist."""
        keys = {_block_key(chat_id, b): b for b in (block, block + 1)}
        found: dict[int, int] = {}
        for record in IdempotencyRecord.batch_get(list(keys), consistent_read=True):
            found[keys[record.id]] = int(json.loads(record.data or "{}")["event_sequence"])
        return found

    def _legacy(self, chat_id: str, low: int, high: int | None, want: int) -> list[MessageView]:
        """The unbroken run of old message rows from ``low``: each is also in the log, so a run that
        stops early is completed from there."""
        condition = (
            MessageRecord.sequence.between(low, high) if high is not None else MessageRecord.sequence >= low
        )
        run: list[MessageView] = []
        for record in MessageRecord.query(chat_id, condition, consistent_read=True, limit=want):
            if int(record.sequence) != low + len(run):
                break
            run.append(legacy_message(record))
        return run

    def _logged(
        self, chat_id: str, start: int, high: int | None, want: int, anchors: dict[int, int]
    ) -> list[MessageView]:
        """Up to ``want`` messages from ``start`` (to ``high``), from the MessageStored rows of the log."""
        block = _block(start)
        floor = anchors.get(block)
        if floor is None:
            floor = self._floor(chat_id, start, anchors.get(block + 1))
        found: list[MessageView] = []
        passed = start - (block * ANCHOR_EVERY + 1) if block in anchors else 0
        page = (passed + want) * 3 // 2 + 4  # a few requests at most, not many rows read for nothing
        logged = self._stored(chat_id, EventRecord.sequence >= floor, forward=True, page=page)
        for _, message in logged:
            if message.sequence < start:
                continue
            if high is not None and message.sequence > high:
                break
            found.append(message)
            if len(found) >= want:  # before the next row: it may be another request
                break
        return found

    def _floor(self, chat_id: str, start: int, ceiling: int | None) -> int:
        """An event sequence at or below message ``start``'s, where its block has no anchor (an old
        chat): walk down from the next block's anchor (or the log's end) to the message before it."""
        condition = EventRecord.sequence <= ceiling if ceiling is not None else None
        for at, message in self._stored(chat_id, condition, forward=False, page=ANCHOR_EVERY):
            if message.sequence < start:
                return at + 1
        return start  # every message sits at or after its own number in the log

    def _stored(
        self, chat_id: str, condition: Any, *, forward: bool, page: int
    ) -> Iterator[tuple[int, MessageView]]:
        """The chat's MessageStored rows in log order (or reversed), with their event sequences;
        ``page`` rows a request."""
        records = EventRecord.query(
            chat_id,
            condition,
            filter_condition=EventRecord.event_type == STORED,
            consistent_read=True,
            scan_index_forward=forward,
            page_size=page,
        )
        for record in records:
            message = stored_message(record)
            if message is not None:
                yield int(record.sequence), message

    # -- read filters' verdict cache ------------------------------------------------------------------

    def read_verdicts(
        self, chat_id: str, versions: Sequence[MessageKey]
    ) -> dict[MessageKey, MessageVerdicts]:
        """The cached read-filter verdicts of these (sequence, version)s (one BatchGetItem per 100);
        those without any, or with an entry this code cannot read, are left out (ruled again)."""
        keys = {verdicts_key(chat_id, *k): k for k in sorted(set(versions))}
        found: dict[MessageKey, MessageVerdicts] = {}
        listed = list(keys)
        try:
            for start in range(0, len(listed), BATCH_GET_KEYS):
                for record in IdempotencyRecord.batch_get(listed[start : start + BATCH_GET_KEYS]):
                    try:
                        found[keys[record.id]] = MessageVerdicts.model_validate_json(record.data or "")
                    except ValueError:
                        logger.warning("unreadable read verdicts", extra={"chat_id": chat_id})
        except PynamoDBException as exc:
            raise StoreError("could not read cached read verdicts") from exc
        return found

    def save_read_verdicts(
        self, chat_id: str, sequence: int, verdicts: MessageVerdicts, *, expires_at: datetime
    ) -> None:
        try:
            key = verdicts_key(chat_id, sequence, verdicts.version)
            IdempotencyRecord(key, expiration=expires_at, data=verdicts.model_dump_json()).save()
        except PynamoDBException as exc:
            raise StoreError("could not cache read verdicts") from exc
