"""The inbox read model's table: conditional writes keyed on sequences, and batched reads.

It now holds the members' explicit read markers and the whispers' rows; the public preview and each
poster's marker ride the chat head (``parley.adapters.chat_line``). Rows the relay wrote for public
posts before that (``last`` and poster markers) are still read, for chats whose head has no preview."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pynamodb.exceptions import PutError

from parley.adapters.chat_items import is_head_key
from parley.adapters.tables import ChatRecord, InboxRecord, MembershipRecord
from parley.domain.inbox import ChatLine, LastMessage, read_up_to
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
    last_message: LastMessage | None
    last_read_sequence: int
    private: tuple[str, ...] = ()
    """The chat's whispers that may matter to this member (after their marker or the latest message)."""


def _legacy(found: Mapping[tuple[str, str], InboxRecord], chat_id: str) -> LastMessage | None:
    """The latest public message as the relay wrote it before chat heads carried it."""
    row = found.get(_chat_key(chat_id))
    return LastMessage.model_validate_json(row.message) if row is not None and row.message else None


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

    def rows(self, user_id: str, lines: Mapping[str, ChatLine | None]) -> dict[str, InboxRow]:
        """Per chat (with the line its head carries): the member's explicit marker, the latest public
        message from this table only where the head has none yet (a chat not posted in since heads
        carry it), and whispers that may matter to them, in batched reads."""
        fallback = [c for c, line in lines.items() if line is None or line.last is None]
        keys = [_user_key(user_id, c) for c in lines] + [(f"chat#{c}", PRIVATE) for c in lines]
        keys += [_chat_key(c) for c in fallback]
        found = {(r.pk, r.sk): r for r in InboxRecord.batch_get(keys)} if keys else {}
        rows = {}
        for chat_id, line in lines.items():
            marker, head = found.get(_user_key(user_id, chat_id)), found.get((f"chat#{chat_id}", PRIVATE))
            read = read_up_to(int(marker.sequence) if marker else 0, line, user_id)
            last = line.last if line is not None and line.last is not None else _legacy(found, chat_id)
            last_sequence = last.sequence if last is not None else 0
            since = min(read, last_sequence)
            rows[chat_id] = InboxRow(
                last_sequence=last_sequence,
                last_message=last,
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
