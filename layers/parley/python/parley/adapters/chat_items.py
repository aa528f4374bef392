"""The chat's two items: a small head that every post rewrites, and a cold part read by version.

A post changes only sequences, rate-limit stamps and the turn. Writing title, settings, participants
and installs with each post made the item 1.2-2.5 KB, and a transaction bills it twice per started
kilobyte; the head alone stays well under one (tests/unit/test_chat_item_budget.py). The cold part is
rewritten, in the same transaction as the head, only when it changed; the head names the version it
goes with, so a reader caches it by (chat, version) and a post reads only the head.

Migration: a head without ``cold_version`` is the older one-item form (everything in ``state``); it
is read as it is, and split on the chat's next write (lazily, no batch job).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import OrderedDict
from typing import Any

from parley.domain.model import Chat

COLD_SUFFIX = "#cold"
"""The cold item's key is the chat id and this (``#`` never occurs in a chat id: they are UUIDs)."""

HOT_FIELDS = frozenset(
    {
        "status",
        "turn",
        "last_message_sequence",
        "last_human_sequence",
        "ai_replied",
        "last_event_sequence",
        "recent_posts",
        "bot_minute",
        "bot_posts",
        "roster_version",
    }
)
"""What a post (a person's, a bot's, an AI's) or a turn move changes: the head's part."""

COLD_CACHE_SIZE = 4096


def cold_key(chat_id: str) -> str:
    return chat_id + COLD_SUFFIX


def is_head_key(key: str) -> bool:
    """A head's key is the bare chat id; the cold item and the day items have a ``#`` suffix."""
    return "#" not in key


DAY_INFIX = "#day#"
"""A day item's key is ``<chat_id>#day#<UTC day>``: written once per chat and day a message is stored."""
ACTIVE_SHARDS = 4
"""Each day's entries in the active-day index are spread over this many partitions (by chat id)."""


def day_key(chat_id: str, day: str) -> str:
    return f"{chat_id}{DAY_INFIX}{day}"


def active_on(day: str, chat_id: str) -> str:
    """The active-day index partition of this chat on this day."""
    return f"{day}#{zlib.crc32(chat_id.encode()) % ACTIVE_SHARDS}"


def active_partitions(day: str) -> list[str]:
    return [f"{day}#{n}" for n in range(ACTIVE_SHARDS)]


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def split(chat: Chat) -> tuple[str, str]:
    """The head's JSON and the cold part's JSON (the chat id is each item's key, in neither)."""
    data = chat.stored_data()
    data.pop("chat_id", None)
    hot = {k: v for k, v in data.items() if k in HOT_FIELDS}
    cold = {k: v for k, v in data.items() if k not in HOT_FIELDS}
    return _dumps(hot), _dumps(cold)


def assemble(chat_id: str, hot: str, cold: str) -> Chat:
    return Chat.model_validate({**json.loads(cold), **json.loads(hot), "chat_id": chat_id})


class ColdCache:
    """Cold parts by chat, each with its version: a version's content never changes once committed."""

    def __init__(self, size: int = COLD_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, chat_id: str, version: int) -> str | None:
        with self._lock:
            found = self._items.get(chat_id)
            if found is None or found[0] != version:
                return None
            self._items.move_to_end(chat_id)
            return found[1]

    def put(self, chat_id: str, version: int, cold: str) -> None:
        with self._lock:
            current = self._items.get(chat_id)
            if current is not None and current[0] > version:
                return  # a newer version is already known
            self._items[chat_id] = (version, cold)
            self._items.move_to_end(chat_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
