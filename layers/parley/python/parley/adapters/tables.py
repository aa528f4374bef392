"""Every DynamoDB table, defined once as PynamoDB models.

Tests (moto), the local stack and CDK all read these definitions: ``TABLES`` lists them with the
setting that names each table, and ``spec()`` turns a model into plain key-schema data for CDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from parley.adapters import aws
from parley.adapters.event_rows import detail_text
from parley.settings import Settings

PAY_PER_REQUEST = "PAY_PER_REQUEST"
NEW_IMAGE = "NEW_IMAGE"


class TurnDeadlineIndex(GlobalSecondaryIndex["ChatRecord"]):  # type: ignore[no-untyped-call]
    """Sparse index of chats whose turn can time out, by deadline; the turn sweeper reads it.

    Keys only: the sweeper needs just the chat id, then loads the chat with a consistent read.
    """

    class Meta:
        index_name = "turn-deadline"
        projection = KeysOnlyProjection()

    turn_due = UnicodeAttribute(hash_key=True)
    turn_deadline = UnicodeAttribute(range_key=True)


class ActiveDayIndex(GlobalSecondaryIndex["ChatRecord"]):  # type: ignore[no-untyped-call]
    """Sparse index of the chats a message was stored in, by UTC day: the day items only
    (``<chat_id>#day#<day>``, one per chat and day), so a post writes it once a day, not per post.

    The sort key is ``<chat_id>#<first event sequence of that day>``, so keys alone tell the
    operators' summary where each chat's day starts in its log.
    """

    class Meta:
        index_name = "active-day"
        projection = KeysOnlyProjection()

    active_on = UnicodeAttribute(hash_key=True)
    active_chat = UnicodeAttribute(range_key=True)


class ChatRecord(Model):
    """The chat aggregate, JSON state guarded by an optimistic-lock version, in two items (see
    parley.adapters.chat_items): the head, rewritten by every post, holds the fields a post changes
    and ``cold_version``; the ``<chat_id>#cold`` item holds the rest (title, settings, participants,
    installs), rewritten only when they change. A head without ``cold_version`` is the older one-item
    form, whole in ``state``."""

    class Meta:
        table_name = "parley-chats"
        billing_mode = PAY_PER_REQUEST

    chat_id = UnicodeAttribute(hash_key=True)
    version = VersionAttribute()
    state = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    turn_due = UnicodeAttribute(null=True)
    turn_deadline = UnicodeAttribute(null=True)
    cold_version = NumberAttribute(null=True)
    active_day = UnicodeAttribute(null=True)
    """On the head: the latest UTC day a message was stored in the chat (its day item is written)."""
    active_on = UnicodeAttribute(null=True)
    active_chat = UnicodeAttribute(null=True)
    inbox = UnicodeAttribute(null=True)
    """On the head: the chat list's line, compact (``parley.adapters.chat_line``)."""
    turn_deadline_index = TurnDeadlineIndex()
    active_day_index = ActiveDayIndex()


class MembershipRecord(Model):
    """Which chats a user belongs to (the chat item holds the authoritative participant list)."""

    class Meta:
        table_name = "parley-memberships"
        billing_mode = PAY_PER_REQUEST

    user_id = UnicodeAttribute(hash_key=True)
    chat_id = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute()
    joined_at = UnicodeAttribute()


class MessageRecord(Model):
    class Meta:
        table_name = "parley-messages"
        billing_mode = PAY_PER_REQUEST

    chat_id = UnicodeAttribute(hash_key=True)
    sequence = NumberAttribute(range_key=True)
    message_id = UnicodeAttribute()
    sender_id = UnicodeAttribute()
    sender_name = UnicodeAttribute()
    sender_kind = UnicodeAttribute()
    text = UnicodeAttribute()
    client_message_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    read_verdicts = UnicodeAttribute(null=True)
    """Read filters' cached verdicts on this message, per viewer (``parley.services.read_filters``)."""
    to = ListAttribute(of=UnicodeAttribute, null=True)  # a whisper's addressees
    blocks = UnicodeAttribute(null=True)
    """An interactive message's blocks as JSON (``parley.blocks``); absent on a plain message."""
    blocks_version = NumberAttribute(null=True)
    edit_version = NumberAttribute(null=True)
    """The message's ``version`` once updated (MessageUpdated); absent: 1, as posted."""
    edited_at = UnicodeAttribute(null=True)


class EventRecord(Model):
    """The per-chat append-only event log, which is also the transactional outbox: its stream (new
    images) feeds the broadcaster and the relay that puts each row on the bus."""

    class Meta:
        table_name = "parley-events"
        billing_mode = PAY_PER_REQUEST
        stream_view_type = NEW_IMAGE

    chat_id = UnicodeAttribute(hash_key=True)
    sequence = NumberAttribute(range_key=True)
    event_type = UnicodeAttribute()
    """Outside the body: the stream consumers' filters and history's Query filter match on it."""
    body = BinaryAttribute(null=True, legacy_encoding=False)
    """The event, packed (``parley.adapters.event_rows``); read it with ``detail_json``."""
    detail = UnicodeAttribute(null=True)
    """A row written before ``body``: the event's JSON as it is (dual read)."""
    event_id = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute(null=True)
    """Both only on rows written before ``body``: they repeated its JSON."""
    parked = UnicodeAttribute(null=True)
    origin_connection_id = UnicodeAttribute(null=True)
    """On a post's MessageStored: the socket it came from, which the broadcaster skips if it is the
    sender's. Outside the event: never published, never in GET /events."""
    """Why the relay gave up on this event (it can never be published); absent on every other row."""
    latest = UnicodeAttribute(null=True)
    """On an extension's MessageStored: the message's latest version (MessageView JSON), the
    projection of its MessageUpdated events; absent: as posted. A MODIFY: never republished."""
    edit_version = NumberAttribute(null=True)
    """That version's number: an update writes only above it."""
    revision = NumberAttribute(null=True)
    """The extension's ``revision`` of that version, if it counts them: an update writes only above it."""

    def detail_json(self) -> str:
        """The event's JSON, whichever format the row was written in (``event_rows.detail_text``)."""
        row = {
            "chat_id": self.chat_id,
            "event_type": self.event_type,
            "body": self.body,
            "detail": self.detail,
        }
        return detail_text(row)


class IdempotencyRecord(Model):
    """Shared with Powertools' idempotency utility (same key and TTL attribute names)."""

    class Meta:
        table_name = "parley-idempotency"
        billing_mode = PAY_PER_REQUEST

    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)
    data = UnicodeAttribute(null=True)
    tally = NumberAttribute(null=True)
    """A counter row's count (per-minute quotas such as an extension's ephemeral messages)."""


class ConnectionRecord(Model):
    """An open WebSocket connection; expires with API Gateway's 2 h limit (plus a margin)."""

    class Meta:
        table_name = "parley-connections"
        billing_mode = PAY_PER_REQUEST

    connection_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    connected_at = UnicodeAttribute()
    chats = UnicodeSetAttribute(null=True)
    expires_at = TTLAttribute()


class SubscriptionRecord(Model):
    """A connection subscribed to a chat: the broadcaster's fan-out list is one Query on chat_id."""

    class Meta:
        table_name = "parley-subscriptions"
        billing_mode = PAY_PER_REQUEST

    chat_id = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class ExtensionRecord(Model):
    """Extensions' table: the registry (``pk = "registry"``) and each extension's own rows.

    Every extension row's partition key starts with ``<extension id>#``, so an extension's IAM role
    can be limited to its own rows with the ``dynamodb:LeadingKeys`` condition.
    """

    class Meta:
        table_name = "parley-extensions"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    revision = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class InboxRecord(Model):
    """The inbox read model, fed by events: ``chat#<id>`` / ``last`` holds a chat's latest message,
    ``user#<id>`` / ``<chat id>`` a member's read marker. Every write is conditioned on a sequence, so
    duplicates and late deliveries never move either back."""

    class Meta:
        table_name = "parley-inbox"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    sequence = NumberAttribute()
    message = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    """A preview's message version (MessageUpdated), so a later version replaces it and an older never."""


@dataclass(frozen=True)
class TableDef:
    key: str
    model: type[Model]
    setting: str
    ttl_attribute: str | None = None


TABLES: tuple[TableDef, ...] = (
    TableDef("chats", ChatRecord, "chats_table"),
    TableDef("memberships", MembershipRecord, "memberships_table"),
    TableDef("messages", MessageRecord, "messages_table"),
    TableDef("events", EventRecord, "events_table"),
    TableDef("idempotency", IdempotencyRecord, "idempotency_table", ttl_attribute="expiration"),
    TableDef("connections", ConnectionRecord, "connections_table", ttl_attribute="expires_at"),
    TableDef("subscriptions", SubscriptionRecord, "subscriptions_table", ttl_attribute="expires_at"),
    TableDef("extensions", ExtensionRecord, "extensions_table", ttl_attribute="expires_at"),
    TableDef("inbox", InboxRecord, "inbox_table"),
)


def bind(settings: Settings) -> None:
    """Point every model at the configured table names and region.

    A model's cached connection is dropped only when its name or region changes: building one is a
    new botocore client, which is what a cold start should pay once, not every rebind. Every
    model's client comes from the process's one botocore session (``aws``), not one session each.
    """
    aws.share_with_pynamodb()
    for table in TABLES:
        meta: Any = table.model.Meta
        name, region = getattr(settings, table.setting), settings.region
        if getattr(meta, "table_name", None) == name and getattr(meta, "region", None) == region:
            continue
        meta.table_name = name
        meta.region = region
        table.model._connection = None


def spec(table: TableDef) -> dict[str, Any]:
    """Plain key schema of a table, for CDK: partition and sort keys, indexes and TTL."""
    model = table.model
    attrs = model.get_attributes()

    def key(name: str | None) -> dict[str, str] | None:
        if name is None:
            return None
        return {"name": name, "type": "N" if isinstance(attrs[name], NumberAttribute) else "S"}

    indexes = []
    for index in model._indexes.values():
        index_attrs = index.Meta.attributes.values()
        hash_name = next(a.attr_name for a in index_attrs if a.is_hash_key)
        range_name = next((a.attr_name for a in index_attrs if a.is_range_key), None)
        indexes.append(
            {"name": index.Meta.index_name, "partition_key": key(hash_name), "sort_key": key(range_name)}
        )
    return {
        "key": table.key,
        "setting": table.setting,
        "partition_key": key(model._hash_keyname),
        "sort_key": key(model._range_keyname),
        "indexes": indexes,
        "ttl_attribute": table.ttl_attribute,
        "stream": getattr(model.Meta, "stream_view_type", None),
    }
