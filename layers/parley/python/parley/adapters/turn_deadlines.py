"""The turn-deadline index on its own: which chats' turns are due, read without the chat repository.

The sweeper asks every minute and almost always finds nothing, so it loads the chat service (the
catalog, the domain, the repository) only when some turn is due (`make bench`'s cold start).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from parley.adapters.tables import ChatRecord

TURN_SHARDS = 16
"""Turn deadlines spread over this many index partitions, so no single key takes every write."""


def turn_shard(chat_id: str) -> str:
    return f"due#{zlib.crc32(chat_id.encode()) % TURN_SHARDS:02d}"


def due_turns(*, now: datetime, limit: int) -> list[str]:
    """Chats whose turn deadline has passed, earliest first within each shard."""
    cutoff = now.astimezone(UTC).isoformat()
    found: list[str] = []
    for shard in range(TURN_SHARDS):
        if len(found) >= limit:
            break
        records = ChatRecord.turn_deadline_index.query(
            f"due#{shard:02d}", ChatRecord.turn_deadline <= cutoff, limit=limit - len(found)
        )
        found.extend(r.chat_id for r in records)
    return found
