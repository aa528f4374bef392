"""DynamoDB item sizes and capacity units as the benchmark estimates them (bench/dynamodb_units.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.dynamodb_units import (
    index_write_units,
    item_size,
    number_size,
    read_units,
    read_units_of,
    value_size,
    write_units,
)


def test_strings_and_names_count_their_utf8_bytes() -> None:
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert item_size({"t": {"S": "é"}}) == 1 + 2


@pytest.mark.parametrize(
    ("text", "size"), [("0", 2), ("7", 2), ("12", 2), ("123", 3), ("1000", 2), ("-12.50", 3), ("3.14159", 4)]
)
def test_numbers_take_one_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size


def test_documents_and_sets() -> None:
    assert value_size({"BOOL": True}) == 1
    assert value_size({"NULL": True}) == 1
    assert value_size({"B": b"\x00\x01\x02"}) == 3
    assert value_size({"SS": ["ab", "c"]}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1


def test_write_units_round_up_per_kilobyte_of_the_larger_image_and_double_in_transactions() -> None:
    assert write_units(0, 10) == 1
    assert write_units(0, 1024) == 1
    assert write_units(1025, 100) == 2
    assert write_units(0, 1500, transactional=True) == 4


def test_read_units_round_up_per_4_kb_and_halve_when_eventually_consistent() -> None:
    assert read_units(0, consistent=True) == 1
    assert read_units(0, consistent=False) == 0.5
    assert read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=True, transactional=True) == 2
    # a query sums its items before rounding
    items = [{"k": {"S": "x" * 3000}}, {"k": {"S": "y" * 3000}}]
    assert read_units_of(items, consistent=False) == 1.0


OUTBOX = {"partition_key": "outbox", "sort_key": "occurred_at", "projection": "ALL"}


def _row(text: str, outbox: bool) -> dict[str, Any]:
    row = {"chat_id": {"S": "c"}, "sequence": {"N": "1"}, "occurred_at": {"S": "t"}, "text": {"S": text}}
    return {**row, "outbox": {"S": "1"}} if outbox else row


def test_a_sparse_index_costs_an_insert_when_an_item_enters_and_a_delete_when_it_leaves() -> None:
    small, large = _row("x", outbox=True), _row("x" * 1500, outbox=True)
    assert index_write_units([OUTBOX], None, small) == 1.0
    assert index_write_units([OUTBOX], None, large) == 2.0  # the whole item is projected
    assert index_write_units([OUTBOX], large, _row("x" * 1500, outbox=False)) == 2.0
    # an item in neither image costs the index nothing, nor does an unchanged one
    assert index_write_units([OUTBOX], _row("x", False), _row("y", False)) == 0.0
    assert index_write_units([OUTBOX], small, small) == 0.0


def test_a_changed_index_key_is_a_delete_and_an_insert_and_keys_only_projects_the_keys() -> None:
    moved = {**_row("x", True), "occurred_at": {"S": "u"}}
    assert index_write_units([OUTBOX], _row("x", True), moved) == 2.0
    keys_only = {**OUTBOX, "projection": "KEYS_ONLY"}
    large = _row("x" * 1500, outbox=True)
    assert index_write_units([keys_only], None, large, ("chat_id", "sequence")) == 1.0
