"""A chat's facts folded from its own event log when a report is read: no write per event.

The log is the authority and append-only: once a sequence past a block of ``BLOCK`` sequences is
there, the block never changes (sequences are gap-free), so its entries can be cached
(``fold#<block>``) and the next report reads the log only after the cached blocks.

Which events count is exactly what the extension would have been handed: an event built while
analytics was enabled on the chat (its id in ``metadata.extensions``, what its bus rule matches), or
one that a backfill of analytics' ExtensionActivated covers (the last ``BACKFILL_MAX_EVENTS``
sequences up to its ``backfill_through``); never a whisper or a moderators' notice, as analytics
holds no ``messages:read_private`` (``parley.domain.audience``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from parley.catalog import parse_detail
from parley.domain import audience
from parley.extensions.builtin._analytics_model.config import BACKFILL_MAX_EVENTS, EXTENSION_ID
from parley.extensions.builtin._analytics_model.facts import BLOCK, FACT_TYPES, Facts, fact_of

FOLD_PREFIX = "fold#"
"""Keys of the cached blocks: ``fold#<block>``, ``{"e": {sequence: [live, fact]}, "a": [through]}``."""

Block = dict[str, Any]


def fold_key(block: int) -> str:
    return f"{FOLD_PREFIX}{block}"


def _may_see(detail: Mapping[str, Any]) -> bool:
    return audience.extension_may_see(EXTENSION_ID, audience.audience_of_detail(detail), lambda _: False)


def fold_into(blocks: dict[int, Block], details: Iterable[Mapping[str, Any]]) -> int:
    """Adds log entries (details, in any order) to their blocks; returns the highest sequence seen
    (0 for none). Every entry opens its block, so a block of events that do not count is kept too."""
    last = 0
    for detail in details:
        meta = detail["metadata"]
        sequence = int(meta["sequence"])
        last = max(last, sequence)
        block = blocks.setdefault(sequence // BLOCK, {"e": {}, "a": []})
        data = detail.get("data") or {}
        if meta["event_type"] == "ExtensionActivated" and data.get("extension_id") == EXTENSION_ID:
            through = data.get("backfill_through")
            if through is not None and through not in block["a"]:
                block["a"].append(through)
        elif meta["event_type"] in FACT_TYPES and _may_see(detail):
            fact = fact_of(parse_detail(detail))
            if fact is not None:
                block["e"][str(sequence)] = [EXTENSION_ID in (meta.get("extensions") or ()), fact]
    return last


def complete(blocks: Mapping[int, Block], last_sequence: int) -> list[int]:
    """The blocks the log has moved past (a later sequence is there): they never change again."""
    return sorted(b for b in blocks if (b + 1) * BLOCK <= last_sequence)


def cached_prefix(stored: Mapping[str, Any]) -> dict[int, Block]:
    """The cached blocks 0..k with none missing (the log is read again from after block k)."""
    found = {int(k.removeprefix(FOLD_PREFIX)): v for k, v in stored.items() if k.startswith(FOLD_PREFIX)}
    prefix: dict[int, Block] = {}
    while len(prefix) in found:
        prefix[len(prefix)] = found[len(prefix)]
    return prefix


def counted(blocks: Iterable[Mapping[str, Any]]) -> Facts:
    """The facts analytics counts: live entries, and those a backfill of an activation covered."""
    entries: dict[str, list[Any]] = {}
    windows: list[tuple[int, int]] = []
    for block in blocks:
        entries.update(block.get("e") or {})
        windows += [(max(0, int(t) - BACKFILL_MAX_EVENTS), int(t)) for t in block.get("a") or ()]
    return {
        slot: fact
        for slot, (live, fact) in entries.items()
        if live or any(low < int(slot) <= high for low, high in windows)
    }


def within_retention(facts: Mapping[str, list[Any]], now: datetime, retention_days: int) -> Facts:
    """The facts of events at most ``retention_days`` old (older ones no longer count)."""
    oldest = (now - timedelta(days=retention_days)).timestamp()
    return {slot: fact for slot, fact in facts.items() if float(fact[1]) >= oldest}
