"""The inbox read model's table: conditional writes keyed on sequences, and batched reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pynamodb.exceptions import PutError

from parley.adapters.chat_items import is_head_key
from parley.adapters.tables import ChatRecord, InboxRecord, MembershipRecord
from parley.errors import StoreError

LAST = "last"


def _chat_key(chat_id: str) -> tuple[str, str]:
    return f"chat#{chat_id}", LAST


def _user_key(user_id: str, chat_id: str) -> tuple[str, str]:
    return f"user#{user_id}", chat_id


PRIVATE = "private"
"""The sort key of a chat's latest whisper sequence (its rows are ``private#<sequence>``)."""


def _private_key(chat_id: str, sequence: int) -> tuple[str, str]:
    return f"chat#{chat_id}", f"{PRIVATE}#{sequence:016d}"


@dataclass(frozen=True)
class InboxRow:
    last_sequence: int
    last_message: str | None
    last_read_sequence: int
    private: tuple[str, ...] = ()
    """The chat's whispers that may matter to this member (after their marker or the latest message)."""


class InboxStore:
    def _forward(
        self, key: tuple[str, str], sequence: int, message: str | None = None, version: int | None = None
    ) -> bool:
        """Write the row at ``sequence`` only if it is new or behind (with a ``version``: or at the same
        sequence with an older version): False when it was not."""
        record = InboxRecord(*key, sequence=sequence, message=message, version=version)
        behind = InboxRecord.pk.does_not_exist() | (InboxRecord.sequence < sequence)
        if version is not None:
            older = InboxRecord.version.does_not_exist() | (InboxRecord.version < version)
            behind = behind | ((InboxRecord.sequence == sequence) & older)
        try:
            record.save(condition=behind)
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StoreError(f"could not write inbox row {key}") from exc
            return False
        return True

    def record_message(self, chat_id: str, sequence: int, message: str, *, version: int = 1) -> bool:
        """The chat's latest message (a JSON preview) in its ``version``, unless a later message, or a
        later version of this one, is already there."""
        return self._forward(_chat_key(chat_id), sequence, message, version)

    def record_private(self, chat_id: str, sequence: int, message: str, *, version: int = 1) -> None:
        """A whisper (JSON with its audience) in its ``version``, and the chat's latest whisper
        sequence: members with nothing private after their marker read no whisper rows."""
        self._forward(_private_key(chat_id, sequence), sequence, message, version)
        self._forward((f"chat#{chat_id}", PRIVATE), sequence)

    def move_marker(self, user_id: str, chat_id: str, sequence: int) -> bool:
        """The member's read marker, forward only."""
        return self._forward(_user_key(user_id, chat_id), sequence)

    def rows(self, user_id: str, chat_ids: Sequence[str]) -> dict[str, InboxRow]:
        """Per chat: its latest message and the member's marker, in batched reads."""
        heads = [(f"chat#{c}", PRIVATE) for c in chat_ids]
        keys = [_chat_key(c) for c in chat_ids] + [_user_key(user_id, c) for c in chat_ids] + heads
        found = {(r.pk, r.sk): r for r in InboxRecord.batch_get(keys)} if keys else {}
        rows = {}
        for chat_id in chat_ids:
            last, marker = found.get(_chat_key(chat_id)), found.get(_user_key(user_id, chat_id))
            head = found.get((f"chat#{chat_id}", PRIVATE))
            last_sequence = int(last.sequence) if last else 0
            read = int(marker.sequence) if marker else 0
            since = min(read, last_sequence)
            rows[chat_id] = InboxRow(
                last_sequence=last_sequence,
                last_message=last.message if last else None,
                last_read_sequence=read,
                private=self._private_after(chat_id, since) if head and int(head.sequence) > since else (),
            )
        return rows

    def _private_after(self, chat_id: str, sequence: int) -> tuple[str, ...]:
        pk, low = _private_key(chat_id, sequence + 1)
        return tuple(
            r.message or "{}" for r in InboxRecord.query(pk, InboxRecord.sk.between(low, f"{PRIVATE}#~"))
        )

    def memberships(self, user_id: str, *, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """A page of the user's chat ids in id order, and the cursor to the next (None at the end)."""
        condition = MembershipRecord.chat_id > after if after else None
        records = list(MembershipRecord.query(user_id, condition, limit=limit + 1))
        ids = [r.chat_id for r in records[:limit]]
        return ids, (ids[-1] if len(records) > limit and ids else None)

    def chat_ids(self) -> list[str]:
        """Every chat's id (a scan: for the rebuild command, never a request path)."""
        return [r.chat_id for r in ChatRecord.scan(attributes_to_get=["chat_id"]) if is_head_key(r.chat_id)]
