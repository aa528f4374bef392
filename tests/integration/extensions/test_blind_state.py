"""The extensions table's blind writes on moto: a value put once, and tally rows counted once per slot.

These are what lets the analytics extension run without a delivery claim: whatever the order and
however often an event comes, its fact and its counts land exactly once.
"""

from __future__ import annotations

import random

from infra.local.provision import Provisioned
from parley.adapters.extensions import ExtensionState


def test_a_value_is_put_once_and_a_replay_is_refused(aws: Provisioned) -> None:
    state = ExtensionState("analytics", "chat-1")

    assert state.put_new("f#1", ["msg", 1.0], ttl_seconds=60) is True
    assert state.put_new("f#1", ["msg", 2.0], ttl_seconds=60) is False

    assert state.items_under("f#") == {"f#1": ["msg", 1.0]}


def test_tallies_count_each_slot_once_in_any_order(aws: Provisioned) -> None:
    # Given 30 events' counts, each delivered up to three times, in a shuffled order
    slots = [str(n) for n in range(30)]
    deliveries = [s for s in slots for _ in range(1 + int(s) % 3)]
    random.Random(7).shuffle(deliveries)
    state = ExtensionState("analytics", "_rollup#2026-12-01#0")

    counted = [
        state.tally("chat-1#0", slot, {"m": 1, "ai": int(slot) % 2}, {"p": [f"p{int(slot) % 4}"]})
        for slot in deliveries
    ]

    # Then each slot counted once, whatever came again
    assert counted.count(True) == len(slots)
    row = state.tallies("chat-1#")["chat-1#0"]
    assert row["counts"] == {"m": 30, "ai": 15}
    assert row["tags"] == {"p": {"p0", "p1", "p2", "p3"}}


def test_tallies_are_read_back_page_by_page(aws: Provisioned) -> None:
    state = ExtensionState("analytics", "_rollup#2026-12-02#1")
    padding = "x" * 2000
    for n in range(700):  # about 1.5 MB: more than one Query page
        state.tally(f"chat-{n:04}#0", "1", {"m": 1}, {"p": [padding + str(n)]})

    rows = state.tallies("")

    assert len(rows) == 700
    assert sum(r["counts"]["m"] for r in rows.values()) == 700
