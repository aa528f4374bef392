"""Extensions' context rows: ``<extension id>#<chat id>`` / ``context`` in the extensions table.

The key starts with the extension's id, so the ``dynamodb:LeadingKeys`` condition that limits its
role to its own rows is all it needs to read them; it is never granted the chats table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DoesNotExist, PutError

from parley.adapters.chat_items import assemble, cold_key, is_head_key
from parley.adapters.tables import ChatRecord, ExtensionRecord
from parley.domain.contexts import UNINSTALLED_KEEP_SECONDS, ExtensionContext, context_of
from parley.domain.model import Chat

CONTEXT_SK = "context"


def context_record(context: ExtensionContext, now: datetime) -> ExtensionRecord:
    """The row as written with its chat's transaction; an uninstalled extension's expires."""
    expires = None if context.install is not None else now + timedelta(seconds=UNINSTALLED_KEEP_SECONDS)
    return ExtensionRecord(
        f"{context.extension_id}#{context.chat_id}",
        CONTEXT_SK,
        data=context.model_dump_json(),
        expires_at=expires.astimezone(UTC) if expires else None,
    )


def load_context(extension_id: str, chat_id: str) -> ExtensionContext | None:
    """What this extension may know of this chat; None where it was never installed."""
    try:
        record = ExtensionRecord.get(f"{extension_id}#{chat_id}", CONTEXT_SK, consistent_read=True)
    except DoesNotExist:
        return None
    return ExtensionContext.model_validate_json(record.data or "{}")


def backfill(now: datetime) -> int:
    """Write the context row of every install on every chat that has none yet (chats from before
    context rows): one Scan of the chats table. A row the core wrote meanwhile is newer: kept."""
    written = 0
    for chat in _scanned_chats():
        for extension_id in sorted(chat.extensions):
            try:
                context_record(context_of(chat, extension_id), now).save(
                    condition=ExtensionRecord.pk.does_not_exist()
                )
            except PutError as exc:
                if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise
                continue
            written += 1
    return written


def _scanned_chats() -> list[Chat]:
    """Every chat, from one Scan of heads and cold parts (either form, see chat_items)."""
    records = {r.chat_id: r for r in ChatRecord.scan()}
    chats = []
    for key, head in records.items():
        if not is_head_key(key):
            continue
        cold = records.get(cold_key(key)) if head.cold_version is not None else None
        if cold is not None:
            chats.append(assemble(key, head.state, cold.state))
        elif head.cold_version is None:
            chats.append(Chat.model_validate_json(head.state))
    return chats
