"""The inbox read model's table: conditional writes keyed on sequences, and batched reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pynamodb.exceptions import PutError

from parley.adapters.chat_items import is_head_key
from parley.adapters.tables import ChatRecord, InboxRecord, MembershipRecord

LAST = "last"


def _chat_key(chat_id: str) -> tuple[str, str]:
    return f"chat#{chat_id}", LAST


def _user_key(user_id: str, chat_id: str) -> tuple[str, str]:
    return f"user#{user_id}", chat_id


@dataclass(frozen=True)
class InboxRow:
    last_sequence: int
    last_message: str | None
    last_read_sequence: int


class InboxStore:
    def _forward(self, key: tuple[str, str], sequence: int, message: str | None = None) -> bool:
        """Write the row at ``sequence`` only if it is new or behind: False when it was not."""
        record = InboxRecord(*key, sequence=sequence, message=message)
        try:
            record.save(condition=InboxRecord.pk.does_not_exist() | (InboxRecord.sequence < sequence))
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def record_message(self, chat_id: str, sequence: int, message: str) -> bool:
        """The chat's latest message (a JSON preview), unless a later one is already there."""
        return self._forward(_chat_key(chat_id), sequence, message)

    def move_marker(self, user_id: str, chat_id: str, sequence: int) -> bool:
        """The member's read marker, forward only."""
        return self._forward(_user_key(user_id, chat_id), sequence)

    def rows(self, user_id: str, chat_ids: Sequence[str]) -> dict[str, InboxRow]:
        """Per chat: its latest message and the member's marker, in batched reads."""
        keys = [_chat_key(c) for c in chat_ids] + [_user_key(user_id, c) for c in chat_ids]
        found = {(r.pk, r.sk): r for r in InboxRecord.batch_get(keys)} if keys else {}
        rows = {}
        for chat_id in chat_ids:
            last, marker = found.get(_chat_key(chat_id)), found.get(_user_key(user_id, chat_id))
            rows[chat_id] = InboxRow(
                last_sequence=int(last.sequence) if last else 0,
                last_message=last.message if last else None,
                last_read_sequence=int(marker.sequence) if marker else 0,
            )
        return rows

    def memberships(self, user_id: str, *, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """A page of the user's chat ids in id order, and the cursor to the next (None at the end)."""
        condition = MembershipRecord.chat_id > after if after else None
        records = list(MembershipRecord.query(user_id, condition, limit=limit + 1))
        ids = [r.chat_id for r in records[:limit]]
        return ids, (ids[-1] if len(records) > limit and ids else None)

    def chat_ids(self) -> list[str]:
        """Every chat's id (a scan: for the rebuild command, never a request path)."""
        return [r.chat_id for r in ChatRecord.scan(attributes_to_get=["chat_id"]) if is_head_key(r.chat_id)]
