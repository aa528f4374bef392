"""The chat repository on DynamoDB: every command's writes commit in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from parley.adapters import turn_deadlines
from parley.adapters.chat_items import (
    COLD_SUFFIX,
    ColdCache,
    active_on,
    active_partitions,
    assemble,
    cold_key,
    day_key,
    split,
)
from parley.adapters.chat_line import decode_line, encode_line, item_bytes
from parley.adapters.contexts import context_record
from parley.adapters.event_rows import pack
from parley.adapters.eventbridge import MAX_REQUEST_BYTES, envelope_size
from parley.adapters.history import STORED, History, anchor_record, latest_version
from parley.adapters.tables import (
    ChatRecord,
    EventRecord,
    IdempotencyRecord,
    MembershipRecord,
)
from parley.adapters.turn_deadlines import TURN_SHARDS as TURN_SHARDS  # still imported from here
from parley.adapters.turn_deadlines import turn_shard
from parley.catalog import Envelope, MessageView
from parley.domain.contexts import changed_contexts
from parley.domain.inbox import ChatLine, advance
from parley.domain.model import Chat, Outcome
from parley.domain.read_filters import MessageKey, MessageVerdicts
from parley.domain.turns import turn_deadline
from parley.errors import ChangeTooLargeError, ConcurrentWriteError, ContentionError, StoreError
from parley.observability import logger

DURABLE_SENDERS = frozenset({"ai", "extension"})
"""Senders whose posts answer an event: deduplicated on that request for good, not for a day."""

POINTERS_KEPT = 4096
"""Extension messages' event sequences a warm function keeps (each never changes)."""

LOAD_ATTEMPTS = 3
"""Head-then-cold reads; a cold part changes only on joins, settings and installs, so a second
attempt is already rare."""

WRITE_UNIT = 1024
"""Bytes of an item one write unit covers."""
HEAD_KEYS_BYTES = 400
"""More than a head's attributes other than ``state`` and ``inbox`` take (names and values)."""


class DuplicateClientMessageError(Exception):
    """The (chat, sender, client_message_id) was already used: the transaction wrote nothing."""


@dataclass(frozen=True)
class LoadedChat:
    """A chat as read, with what its write is conditioned on: the head's version, and the cold
    part's version and JSON (None for a chat still in the older one-item form)."""

    chat: Chat
    version: int | None
    cold_version: int | None = None
    cold_state: str | None = None
    active_day: str | None = None
    """The latest UTC day a message was stored in the chat (its day item is written)."""
    line: ChatLine | None = None
    """What the head carries for the chat list (None: not written since the head had none)."""


def client_message_key(chat_id: str, user_id: str, client_message_id: str) -> str:
    return f"client-message#{chat_id}#{user_id}#{client_message_id}"


def message_id_key(chat_id: str, message_id: str) -> str:
    """Where an extension's message is found by its id (the actions route's path names the id)."""
    return f"message-id#{chat_id}#{message_id}"


def action_key(chat_id: str, participant_id: str, client_action_id: str) -> str:
    return f"action#{chat_id}#{participant_id}#{client_action_id}"


def update_key(chat_id: str, extension_id: str, request_id: str) -> str:
    return f"message-update#{chat_id}#{extension_id}#{request_id}"


def request_key(chat_id: str, extension_id: str, kind: str, request_id: str) -> str:
    """Where the gateway notes that it applied one of an extension's requests (a run, a floor, a setting)."""
    return f"ext-request#{chat_id}#{extension_id}#{kind}#{request_id}"


@dataclass(frozen=True)
class Claim:
    """An idempotency key taken in the same transaction as the change it guards: a second change with
    the same key writes nothing (``DuplicateClientMessageError``). ``ttl`` None: kept for good."""

    key: str
    data: dict[str, Any]
    ttl: timedelta | None = None


class ChatRepository:
    def __init__(self, region: str, client_message_ttl_seconds: int = 86400) -> None:
        self._region = region
        self._client_message_ttl = timedelta(seconds=client_message_ttl_seconds)
        self._connection: Connection | None = None
        self._cold = ColdCache()
        self._history = History()
        self._pointers: dict[str, int] = {}

    def _conn(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=self._region)
        return self._connection

    # -- reads -------------------------------------------------------------------------------------

    def load(self, chat_id: str) -> LoadedChat | None:
        """The chat: its head (one consistent read), and its cold part from this process's cache or,
        for a version not seen yet, a second read. A writer that committed between the two reads is
        seen as a newer cold version: the head is read again."""
        for _ in range(LOAD_ATTEMPTS):
            try:
                head = ChatRecord.get(chat_id, consistent_read=True)
            except ChatRecord.DoesNotExist:
                return None
            cold = None
            if head.cold_version is not None:  # as read, even when the cache keeps a newer version
                version = int(head.cold_version)
                cold = self._cold.get(chat_id, version) or self._read_cold(chat_id, version)
            loaded = self._assembled(head, cold)
            if loaded is not None:
                return loaded
        raise ContentionError(f"chat {chat_id} kept changing while it was read", chat_id=chat_id)

    def load_many(self, chat_ids: Sequence[str]) -> list[LoadedChat]:
        """Several chats (those that exist, in order) for a list: their heads in batched consistent
        reads, their cold parts from the cache or in one more batch; a chat whose cold part moved on
        meanwhile is read again alone (``load``)."""
        heads = {
            h.chat_id: h for h in ChatRecord.batch_get(list(dict.fromkeys(chat_ids)), consistent_read=True)
        }
        missing = [
            cold_key(h.chat_id)
            for h in heads.values()
            if h.cold_version is not None and self._cold.get(h.chat_id, int(h.cold_version)) is None
        ]
        for record in ChatRecord.batch_get(missing, consistent_read=True) if missing else ():
            self._cold.put(record.chat_id.removesuffix(COLD_SUFFIX), int(record.version or 0), record.state)
        found = [self._assembled(heads[c]) or self.load(c) for c in chat_ids if c in heads]
        return [loaded for loaded in found if loaded is not None]

    def _assembled(self, head: ChatRecord, cold: str | None = None) -> LoadedChat | None:
        """The chat from its head and the cold part it names, given or cached (None: neither)."""
        if head.cold_version is None:  # the older one-item form, until its next write
            chat = Chat.model_validate_json(head.state)
            return LoadedChat(chat=chat, version=head.version, active_day=head.active_day)
        version = int(head.cold_version)
        cold = cold or self._cold.get(head.chat_id, version)
        if cold is None:
            return None
        chat = assemble(head.chat_id, head.state, cold)
        line = decode_line(head.inbox, chat.participants)
        return LoadedChat(chat, head.version, version, cold, active_day=head.active_day, line=line)

    def _read_cold(self, chat_id: str, version: int) -> str | None:
        try:
            record = ChatRecord.get(cold_key(chat_id), consistent_read=True)
        except ChatRecord.DoesNotExist:
            return None
        if record.version != version:
            return None
        self._cold.put(chat_id, version, record.state)
        return record.state

    def client_message(self, chat_id: str, user_id: str, client_message_id: str) -> MessageView | None:
        """The message an earlier request with the same client_message_id stored, if any: its claim
        names the message's event-log row (an older claim only its message sequence)."""
        key = client_message_key(chat_id, user_id, client_message_id)
        try:
            record = IdempotencyRecord.get(key, consistent_read=True)
        except IdempotencyRecord.DoesNotExist:
            return None
        claim = json.loads(record.data or "{}")
        if claim.get("event_sequence") is not None:
            return self._history.event_message(chat_id, int(claim["event_sequence"]))
        if claim.get("sequence") is None:
            return None
        return self.message(chat_id, int(claim["sequence"]))

    def message_by_id(self, chat_id: str, message_id: str) -> MessageView | None:
        """An extension's message by its id, its latest version (others are not indexed by id: None;
        nor is one posted before history became the log: it cannot be acted on or updated)."""
        at = self._stored_at(chat_id, message_id)
        return None if at is None else self._history.event_message(chat_id, at)

    def _stored_at(self, chat_id: str, message_id: str) -> int | None:
        """The event sequence of an extension message's MessageStored row, from its id pointer (which
        never changes: kept once read, for the update's write that follows its read)."""
        key = message_id_key(chat_id, message_id)
        if key not in self._pointers:
            data = self.claimed(key)
            if data is None or data.get("event_sequence") is None:
                return None
            if len(self._pointers) >= POINTERS_KEPT:
                self._pointers.clear()
            self._pointers[key] = int(data["event_sequence"])
        return self._pointers[key]

    def message_revision(self, chat_id: str, message_id: str) -> int | None:
        """The extension's ``revision`` an extension message's row shows (None: it counts none)."""
        at = self._stored_at(chat_id, message_id)
        if at is None:
            return None
        try:
            record = EventRecord.get(chat_id, at, consistent_read=True, attributes_to_get=["revision"])
        except EventRecord.DoesNotExist:
            return None
        return None if record.revision is None else int(record.revision)

    def _save_update(self, tx: _Transaction, m: MessageView | None, revision: int | None) -> None:
        """The message's new version onto its MessageStored row, the projection of MessageUpdated
        (the event in the same transaction is the source): only forward, a version at or below the
        stored one fails the write, so an older update never overwrites a newer one. The read-filter
        verdicts cached on the old version stay: they are keyed by version (``verdicts_key``), so they
        never answer for this one, and still rule on the old version's event in GET events."""
        if m is None:
            return
        at = self._stored_at(m.chat_id, m.message_id)
        if at is None:
            raise StoreError(f"message {m.message_id} has no stored row to update")
        tx.update(*latest_version(m, at, revision))

    def claimed(self, key: str) -> dict[str, Any] | None:
        """What a ``Claim`` recorded, if its change was committed."""
        try:
            record = IdempotencyRecord.get(key, consistent_read=True)
        except IdempotencyRecord.DoesNotExist:
            return None
        data: dict[str, Any] = json.loads(record.data or "{}")
        return data

    def message(self, chat_id: str, sequence: int) -> MessageView | None:
        items, _ = self._history.messages(chat_id, after=sequence - 1, before=sequence + 1, limit=1)
        return items[0] if items else None

    def messages(
        self, chat_id: str, *, after: int | None, before: int | None, limit: int
    ) -> tuple[list[MessageView], bool]:
        """Messages in sequence order strictly between ``after`` and ``before``; and whether more follow
        (read from the event log: ``parley.adapters.history``)."""
        return self._history.messages(chat_id, after=after, before=before, limit=limit)

    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        records = list(
            EventRecord.query(
                chat_id, EventRecord.sequence > (after or 0), consistent_read=True, limit=limit + 1
            )
        )
        return [json.loads(r.detail_json()) for r in records[:limit]], len(records) > limit

    def read_verdicts(
        self, chat_id: str, versions: Sequence[MessageKey]
    ) -> dict[MessageKey, MessageVerdicts]:
        return self._history.read_verdicts(chat_id, versions)

    def save_read_verdicts(
        self, chat_id: str, sequence: int, verdicts: MessageVerdicts, *, expires_at: datetime
    ) -> None:
        self._history.save_read_verdicts(chat_id, sequence, verdicts, expires_at=expires_at)

    def active_chats(self, day: str) -> dict[str, int]:
        """The chats a message was stored in on this UTC day, each with the event sequence its day
        starts at (one Query per index shard, keys only)."""
        found: dict[str, int] = {}
        for partition in active_partitions(day):
            for record in ChatRecord.active_day_index.query(partition):
                chat_id, _, first = str(record.active_chat).rpartition("#")
                found[chat_id] = int(first)
        return found

    def memberships(self, user_id: str) -> list[str]:
        return [r.chat_id for r in MembershipRecord.query(user_id)]

    def due_turns(self, *, now: datetime, limit: int) -> list[str]:
        """Chats whose turn deadline has passed, earliest first within each shard."""
        return turn_deadlines.due_turns(now=now, limit=limit)

    # -- writes ------------------------------------------------------------------------------------

    def commit(
        self,
        loaded: LoadedChat | None,
        outcome: Outcome,
        envelopes: Sequence[Envelope[Any]],
        *,
        client_message_id: str | None = None,
        origin_connection_id: str | None = None,
        now: datetime,
        claim: Claim | None = None,
    ) -> None:
        """Write the chat, its new message, membership changes, event-log rows and the extensions'
        context rows atomically.

        Raises ConcurrentWriteError when another writer got there first (retry from a fresh read),
        and DuplicateClientMessageError when the client_message_id was already used.
        """
        for envelope in envelopes:
            size = envelope_size(envelope)
            if size > MAX_REQUEST_BYTES:
                raise ChangeTooLargeError(
                    f"the change's {envelope.event_type} event would be {size} bytes; the bus takes "
                    f"at most {MAX_REQUEST_BYTES}",
                    event_type=envelope.event_type,
                    size=size,
                    limit=MAX_REQUEST_BYTES,
                )
        chat = outcome.chat
        started = new_active_day(loaded, envelopes)
        line = advance(loaded.line if loaded is not None else None, envelopes)
        head, cold = chat_records(chat, loaded, now, active_day=started[0] if started else None, line=line)
        with self._transaction() as tx:
            tx.save(head)
            tx.save_if(cold)
            _mark_day(tx, chat.chat_id, started, now)
            if outcome.message is not None:
                self._save_message(tx, outcome.message, envelopes, client_message_id, now)
            self._save_update(tx, outcome.updated, outcome.update_revision)
            _save_claim(tx, claim, now)
            if outcome.joined is not None:
                tx.save(
                    MembershipRecord(
                        outcome.joined.id,
                        chat.chat_id,
                        role=outcome.joined.role,
                        joined_at=outcome.joined.joined_at.isoformat(),
                    )
                )
            if outcome.left is not None:
                tx.delete(MembershipRecord(outcome.left, chat.chat_id))
            for envelope in envelopes:
                origin = origin_connection_id if envelope.event_type == "MessageStored" else None
                tx.save(_event_record(envelope, origin), condition=EventRecord.sequence.does_not_exist())
            # each installed extension's view of the chat moves with it (parley.domain.contexts)
            for context in changed_contexts(loaded.chat if loaded else None, chat):
                tx.save(context_record(context, now))
        if cold is not None and head.cold_version is not None:
            self._cold.put(chat.chat_id, int(head.cold_version), cold.state)
        if outcome.left is not None and loaded is not None:
            _keep_own_posts_read(chat.chat_id, outcome.left, loaded.line)

    def _save_message(
        self,
        tx: _Transaction,
        m: MessageView,
        envelopes: Sequence[Envelope[Any]],
        client_message_id: str | None,
        now: datetime,
    ) -> None:
        """No row of its own: the message is its MessageStored event-log row. Beside it, its
        client_message_id's claim (written only once) and, starting a block, its anchor."""
        at = _stored_at(m, envelopes)
        anchor = anchor_record(m.chat_id, m.sequence, at)
        if anchor is not None:
            tx.save(anchor)
        if m.sender_kind == "extension":  # found by its id for actions and updates, for good
            pointer = IdempotencyRecord(
                message_id_key(m.chat_id, m.message_id),
                data=json.dumps({"sequence": m.sequence, "event_sequence": at}),
            )
            tx.save(pointer, condition=IdempotencyRecord.id.does_not_exist())
        if client_message_id is not None:
            # a person's retry comes within hours; a bot's or an AI's request can be redriven from a
            # dead-letter queue (14 days) or the archive: their key never expires
            durable = m.sender_kind in DURABLE_SENDERS
            claim = {"sequence": m.sequence, "message_id": m.message_id, "event_sequence": at}
            tx.save(
                IdempotencyRecord(
                    client_message_key(m.chat_id, m.sender_id, client_message_id),
                    expiration=None if durable else now + self._client_message_ttl,
                    data=json.dumps(claim),
                ),
                condition=IdempotencyRecord.id.does_not_exist(),
            )

    def claim(self, key: str, *, now: datetime, ttl_seconds: float) -> str | None:
        """Take a short lease on ``key``; None when taken, else the holder's state (``running`` or
        ``done``). An expired lease is taken over (DynamoDB's TTL deletes lazily, so the condition
        checks the expiry itself)."""
        record = IdempotencyRecord(
            key, expiration=now + timedelta(seconds=ttl_seconds), data='{"state":"running"}'
        )
        try:
            expired = IdempotencyRecord.expiration < now
            record.save(condition=IdempotencyRecord.id.does_not_exist() | expired)
            return None
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
        try:
            held = IdempotencyRecord.get(key, consistent_read=True)
        except IdempotencyRecord.DoesNotExist:
            return "running"
        return str(json.loads(held.data or "{}").get("state", "running"))

    def finish_claim(self, key: str, *, now: datetime, keep_seconds: float | None, outcome: str) -> None:
        """Mark a claimed job done; duplicates arriving within ``keep_seconds`` (None: ever) see it
        finished."""
        try:
            IdempotencyRecord(
                key,
                expiration=None if keep_seconds is None else now + timedelta(seconds=keep_seconds),
                data=json.dumps({"state": "done", "outcome": outcome}),
            ).save()
        except PutError as exc:
            raise StoreError(f"could not mark {key} done") from exc

    def release_claim(self, key: str) -> None:
        """Give a lease back unfinished, so the next delivery may take it at once."""
        try:
            IdempotencyRecord(key).delete()
        except PynamoDBException:
            logger.exception("could not release a lease; it will expire", extra={"key": key})

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn())

    def park(self, keys: Sequence[tuple[str, int]], *, reason: str) -> None:
        """Mark events the bus can never take, visibly: ``parked`` says why (a MODIFY on the stream,
        which the relay's filter, new rows only, does not see again)."""
        try:
            for chat_id, sequence in keys:
                EventRecord(chat_id, sequence).update(actions=[EventRecord.parked.set(reason)])
        except PynamoDBException as exc:
            raise StoreError(f"could not park {len(keys)} outbox events") from exc


class _Transaction:
    """TransactWrite that turns cancellation reasons into the repository's typed errors."""

    def __init__(self, connection: Connection) -> None:
        self._tx = TransactWrite(connection=connection)
        # the request lists deletes, then puts, then updates (pynamodb's order): the cancellation
        # reasons come in that order, not the calls'
        self._deleted: list[str] = []
        self._put: list[str] = []
        self._updated: list[str] = []

    def __enter__(self) -> _Transaction:
        return self

    def save(self, model: Any, condition: Any = None) -> None:
        self._put.append(type(model).__name__)
        self._tx.save(model, condition=condition)

    def save_if(self, model: Any | None) -> None:
        if model is not None:
            self.save(model)

    def update(self, model: Any, actions: list[Any], condition: Any) -> None:
        self._updated.append(type(model).__name__)
        self._tx.update(model, actions=actions, condition=condition, add_version_condition=False)

    def delete(self, model: Any) -> None:
        self._deleted.append(type(model).__name__)
        self._tx.delete(model, add_version_condition=False)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            return
        try:
            self._tx._commit()
        except TransactWriteError as error:
            reasons = error.cancellation_reasons
            kinds = self._deleted + self._put + self._updated
            codes = [(kind, r.code if r else None) for kind, r in zip(kinds, reasons, strict=False)]
            if any(kind == "IdempotencyRecord" and code == "ConditionalCheckFailed" for kind, code in codes):
                raise DuplicateClientMessageError() from error
            if any(code in {"ConditionalCheckFailed", "TransactionConflict"} for _, code in codes) or (
                error.cause_response_code == "TransactionConflictException"
            ):
                raise ConcurrentWriteError("the chat changed during the write", reasons=codes) from error
            raise


def _keep_own_posts_read(chat_id: str, user_id: str, line: ChatLine | None) -> None:
    """The head's line forgets a person who leaves (it is bounded by the roster): their latest post
    moves their explicit marker, forward only, so a rejoin does not count their own posts unread.
    After the commit and best effort: a failure costs a stale unread count, never the leave."""
    posted = line.posted.get(user_id, 0) if line is not None else 0
    if not posted:
        return
    from parley.adapters.inbox import InboxStore  # a leave's path alone

    try:
        InboxStore().move_marker(user_id, chat_id, posted)
    except StoreError:
        logger.warning("could not keep a leaver's marker", extra={"chat_id": chat_id, "user_id": user_id})


def _save_claim(tx: _Transaction, claim: Claim | None, now: datetime) -> None:
    """The change's idempotency key, taken once."""
    if claim is not None:
        expiration = None if claim.ttl is None else now + claim.ttl
        record = IdempotencyRecord(claim.key, expiration=expiration, data=json.dumps(claim.data))
        tx.save(record, condition=IdempotencyRecord.id.does_not_exist())


def new_active_day(loaded: LoadedChat | None, envelopes: Sequence[Envelope[Any]]) -> tuple[str, int] | None:
    """(UTC day, event sequence) of the change's first stored message if it opens a later day than
    the head's ``active_day``; None otherwise (the day stays, or no message is stored). A head with no
    ``active_day`` (a new chat, or one written before day items existed) may have stored messages
    earlier that day: its day is folded from the log's start (sequence 1), once."""
    for envelope in envelopes:
        if envelope.event_type == STORED and envelope.metadata.sequence is not None:
            day = envelope.metadata.occurred_at.astimezone(UTC).date().isoformat()
            latest = loaded.active_day if loaded is not None else None
            if latest is None:
                return (day, 1)
            return (day, envelope.metadata.sequence) if day > latest else None
    return None


def _mark_day(tx: _Transaction, chat_id: str, started: tuple[str, int] | None, now: datetime) -> None:
    """The chat's first message of a UTC day also writes its day item, into the active-day index:
    once a day, not per post. Blind, and the first sequence written stays (``if_not_exists``), so a
    head that lost its ``active_day`` (an older form) cannot move a day's start later."""
    if started is None:
        return
    day, sequence = started
    record = ChatRecord(day_key(chat_id, day))
    actions = [
        ChatRecord.active_on.set(active_on(day, chat_id)),
        ChatRecord.active_chat.set(ChatRecord.active_chat | f"{chat_id}#{sequence}"),
        ChatRecord.updated_at.set(now.isoformat()),
    ]
    tx.update(record, actions, None)


def chat_records(
    chat: Chat,
    loaded: LoadedChat | None,
    now: datetime,
    *,
    active_day: str | None = None,
    line: ChatLine | None = None,
) -> tuple[ChatRecord, ChatRecord | None]:
    """The chat's head, conditioned on the version it was read at (none for a new chat), and its
    cold item when that changed (a chat in the older one-item form gets its first one here),
    conditioned on the cold version the head named. ``active_day`` moves the head's day forward;
    ``line`` is the chat list's, written in the roster's order of this very write."""
    hot, cold = split(chat)
    read_cold = loaded.cold_version if loaded is not None else None
    changed = loaded is None or loaded.cold_state != cold
    cold_version = (read_cold or 0) + 1 if changed else read_cold
    deadline = turn_deadline(chat)
    # a put replaces the whole item: without a deadline the chat drops out of the sparse index
    head = ChatRecord(
        chat.chat_id,
        state=hot,
        updated_at=now.isoformat(),
        turn_due=turn_shard(chat.chat_id) if deadline else None,
        turn_deadline=deadline.astimezone(UTC).isoformat() if deadline else None,
        cold_version=cold_version,
        active_day=active_day or (loaded.active_day if loaded is not None else None),
        inbox=encode_line(line, chat.participants),
    )
    if loaded is not None and loaded.version is not None:
        head.version = loaded.version
    _spill_if_it_costs_a_unit(head, line, chat)
    if not changed:
        return head, None
    cold_item = ChatRecord(cold_key(chat.chat_id), state=cold, updated_at=now.isoformat())
    if read_cold is not None:  # else it must not exist yet; either way it becomes cold_version
        cold_item.version = read_cold
    return head, cold_item


def _spill_if_it_costs_a_unit(head: ChatRecord, line: ChatLine | None, chat: Chat) -> None:
    """Leave the preview's text out of the head when it alone would make every post pay one more
    write unit (twice in the transaction): the chat list reads the message instead (a read, 8x cheaper
    than the 2 WRU, and on GET /chats, not on the post)."""
    if line is None or line.last is None or not line.last.text or head.inbox is None:
        return
    if len(head.state.encode()) + len(head.inbox.encode()) + HEAD_KEYS_BYTES <= WRITE_UNIT:
        return  # the common case, without serializing the item
    size = item_bytes(head.serialize())
    without = encode_line(line, chat.participants, text=False)
    units = -(-(size - len(head.inbox.encode()) + len((without or "").encode())) // WRITE_UNIT)
    if size > units * WRITE_UNIT:
        head.inbox = without


def _stored_at(message: MessageView, envelopes: Sequence[Envelope[Any]]) -> int:
    """The event sequence of the MessageStored row that holds ``message``."""
    for envelope in envelopes:
        if envelope.event_type == STORED and envelope.data.message.sequence == message.sequence:
            assert envelope.metadata.sequence is not None
            return envelope.metadata.sequence
    raise AssertionError(f"message {message.sequence} has no MessageStored event to live in")


def _event_record(envelope: Envelope[Any], origin_connection_id: str | None = None) -> EventRecord:
    """The event's row: its keys, its type (filtered on) and its JSON packed (``event_rows``)."""
    meta = envelope.metadata
    assert meta.sequence is not None, "only sequenced events belong in the event log"
    body = pack(envelope.to_json(), chat_id=meta.chat_id, event_type=meta.event_type)
    return EventRecord(
        meta.chat_id,
        meta.sequence,
        event_type=meta.event_type,
        body=body,
        origin_connection_id=origin_connection_id,
    )
