"""WebSocket connections, chat subscriptions and single-use tickets on DynamoDB."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from parley.adapters.tables import ConnectionRecord, IdempotencyRecord, SubscriptionRecord

CONNECTION_LIFETIME = timedelta(hours=2, minutes=10)
"""API Gateway cuts every connection after 2 h; rows outlive that by a margin, then expire."""
MAX_TICKET_LENGTH = 128
"""Issued tickets are 43 characters; anything much longer is forged, and past 2 KB it cannot be a key."""


@dataclass(frozen=True)
class Subscriber:
    connection_id: str
    user_id: str


@dataclass(frozen=True)
class ConnectionInfo:
    connection_id: str
    user_id: str
    name: str
    chats: frozenset[str]


def _conditional_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class ConnectionRepository:
    # -- tickets ---------------------------------------------------------------------------------

    def put_ticket(self, ticket: str, *, user_id: str, name: str, expires_at: datetime) -> None:
        IdempotencyRecord(
            f"ticket#{ticket}", expiration=expires_at, data=json.dumps({"user_id": user_id, "name": name})
        ).save(condition=IdempotencyRecord.id.does_not_exist())

    def redeem_ticket(self, ticket: str, *, now: datetime) -> tuple[str, str] | None:
        """(user_id, name) of a live ticket, deleting it in the same step: a second redeem gets None."""
        if len(ticket) > MAX_TICKET_LENGTH:
            return None
        key = f"ticket#{ticket}"
        try:
            record = IdempotencyRecord.get(key, consistent_read=True)
        except DoesNotExist:
            return None
        if record.expiration is None or record.expiration <= now:
            return None
        try:
            # only one of two racing redeemers can delete the row: that one owns the ticket
            record.delete(condition=IdempotencyRecord.id.exists())
        except DeleteError as error:
            if _conditional_failed(error):
                return None
            raise
        data = json.loads(record.data or "{}")
        return str(data["user_id"]), str(data["name"])

    # -- connections -----------------------------------------------------------------------------

    def add_connection(self, connection_id: str, *, user_id: str, name: str, now: datetime) -> None:
        ConnectionRecord(
            connection_id,
            user_id=user_id,
            name=name,
            connected_at=now.isoformat(),
            expires_at=now + CONNECTION_LIFETIME,
        ).save()

    def connection(self, connection_id: str, *, now: datetime) -> ConnectionInfo | None:
        """The live connection, or None: expired rows count as gone (TTL deletion lags by hours)."""
        try:
            record = ConnectionRecord.get(connection_id, consistent_read=True)
        except DoesNotExist:
            return None
        if record.expires_at is not None and record.expires_at <= now:
            return None
        return ConnectionInfo(connection_id, record.user_id, record.name, frozenset(record.chats or ()))

    def remove_connection(self, connection_id: str) -> None:
        """Forget a connection and every subscription it held."""
        try:
            record = ConnectionRecord.get(connection_id, consistent_read=True)
        except DoesNotExist:
            return
        for chat_id in record.chats or ():
            SubscriptionRecord(chat_id, connection_id).delete()
        record.delete()

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, connection_id: str, chat_id: str, *, user_id: str, now: datetime) -> bool:
        """Subscribe a live connection; False, writing nothing, when it disconnected meanwhile.

        The connection row is updated first, on condition that it exists: an unconditional update
        after a disconnect would create a row with no user and no TTL that nothing ever removes."""
        try:
            ConnectionRecord(connection_id).update(
                actions=[ConnectionRecord.chats.add({chat_id})],
                condition=ConnectionRecord.connection_id.exists(),
            )
        except UpdateError as error:
            if _conditional_failed(error):
                return False
            raise
        SubscriptionRecord(
            chat_id, connection_id, user_id=user_id, expires_at=now + CONNECTION_LIFETIME
        ).save()
        return True

    def unsubscribe(self, connection_id: str, chat_id: str) -> None:
        """Forget the subscription; the connection row only if it still exists (as ``subscribe``: an
        update after a disconnect would create a row with no user and no TTL)."""
        SubscriptionRecord(chat_id, connection_id).delete()
        try:
            ConnectionRecord(connection_id).update(
                actions=[ConnectionRecord.chats.delete({chat_id})],
                condition=ConnectionRecord.connection_id.exists(),
            )
        except UpdateError as error:
            if not _conditional_failed(error):
                raise

    def drop_subscription(self, chat_id: str, connection_id: str) -> None:
        SubscriptionRecord(chat_id, connection_id).delete()

    def subscribers(self, chat_id: str, *, now: datetime) -> list[Subscriber]:
        """The chat's live subscriptions: one Query on the partition key, never a scan."""
        return [
            Subscriber(r.connection_id, r.user_id)
            for r in SubscriptionRecord.query(chat_id)
            if r.expires_at is None or r.expires_at > now
        ]

    # -- presence --------------------------------------------------------------------------------

    def claim_typing_slot(self, chat_id: str, user_id: str, *, now: datetime, every: timedelta) -> bool:
        """True at most once per ``every`` per member and chat: the throttle lives in one conditional put."""
        if every <= timedelta(0):
            return True
        until = now + every
        if until.microsecond:
            # the TTL attribute keeps whole seconds: round up so the window is never shorter
            until = until.replace(microsecond=0) + timedelta(seconds=1)
        record = IdempotencyRecord(f"typing#{chat_id}#{user_id}", expiration=until)
        try:
            record.save(
                condition=IdempotencyRecord.id.does_not_exist() | (IdempotencyRecord.expiration <= now)
            )
        except PutError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def take_ephemeral_slot(self, chat_id: str, extension_id: str, *, now: datetime, limit: int) -> bool:
        """True while the extension sent the chat fewer than ``limit`` ephemeral messages this calendar
        minute (and counts this one): one conditional update on a counter row that then expires."""
        minute = int(now.timestamp()) // 60
        record = IdempotencyRecord(f"ephemeral#{chat_id}#{extension_id}#{minute}")
        try:
            record.update(
                actions=[
                    IdempotencyRecord.tally.add(1),
                    IdempotencyRecord.expiration.set(datetime.fromtimestamp((minute + 2) * 60, UTC)),
                ],
                condition=IdempotencyRecord.tally.does_not_exist() | (IdempotencyRecord.tally < limit),
            )
        except UpdateError as error:
            if _conditional_failed(error):
                return False
            raise
        return True
