"""DynamoDB item sizes and capacity units, from items in DynamoDB JSON (``{"name": {"S": "..."}}``).

moto does not report ConsumedCapacity reliably, so the benchmark estimates units from the items a
request writes or reads, with DynamoDB's published sizing rules:

- an item's size is the UTF-8 length of its attribute names plus the size of their values;
- a write costs 1 write request unit (WRU) per 1 KB of the larger of the item before and after, at
  least 1; in a transaction every item (condition checks included) costs 2x;
- a read costs 1 read request unit (RRU) per 4 KB, rounded up over the whole response (a Query sums
  its items first), half of that when eventually consistent, at least 0.5; transactional reads 2x.

These are estimates: the per-attribute overheads of lists and maps are DynamoDB's documented ones,
and numbers take 1 byte per two significant digits plus 1, as DynamoDB documents them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def number_size(text: str) -> int:
    """Bytes DynamoDB stores for a number: about one per two significant digits, plus one."""
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        return len(text)
    significant = len(digits) if any(digits) else 1
    return math.ceil(significant / 2) + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    try:
        return len(base64.b64decode(str(value), validate=True))
    except ValueError:
        return len(str(value).encode())


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value in DynamoDB JSON (a one-key dict such as ``{"S": "x"}``)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return number_size(str(raw))
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in raw)
    if kind == "NS":
        return sum(number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(_binary_size(v) for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """An item's size in bytes: attribute names plus values."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size_before: int, size_after: int, *, transactional: bool = False) -> float:
    """WRUs of one item write: per 1 KB of the larger image, at least 1, doubled in a transaction."""
    units = max(1, math.ceil(max(size_before, size_after) / WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))


def read_units(total_size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RRUs of one read request returning ``total_size`` bytes in all (a Query sums its items)."""
    units = max(1, math.ceil(total_size / READ_UNIT_BYTES))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


def read_units_of(items: Iterable[Mapping[str, Mapping[str, Any]]], *, consistent: bool) -> float:
    return read_units(sum(item_size(i) for i in items), consistent=consistent)


def _index_entry_size(
    index: Mapping[str, Any], item: Mapping[str, Mapping[str, Any]] | None, table_keys: tuple[str, ...]
) -> int | None:
    """The size of ``item``'s entry in a global secondary index, or None when it has none there
    (an item lacking the index's partition or sort key is not in a sparse index)."""
    if not item:
        return None
    keys = [k for k in (index["partition_key"], index.get("sort_key")) if k]
    if any(k not in item for k in keys):
        return None
    if index.get("projection", "ALL") == "ALL":
        return item_size(item)
    kept = {*keys, *table_keys, *index.get("attributes", ())}
    return item_size({k: v for k, v in item.items() if k in kept})


def index_write_units(
    indexes: Iterable[Mapping[str, Any]],
    before: Mapping[str, Mapping[str, Any]] | None,
    after: Mapping[str, Mapping[str, Any]] | None,
    table_keys: tuple[str, ...] = (),
) -> float:
    """WRUs the table's global secondary indexes cost for one item write (index writes are billed
    as standard writes, after the table's own, also for transactions).

    Per index, on the projected entry: an insert when the item enters it, a delete when it leaves,
    a delete and an insert when its index key changes, one update of the larger entry otherwise;
    nothing when the item is in neither image or the projected entry did not change.
    """
    units = 0.0
    for index in indexes:
        old = _index_entry_size(index, before, table_keys)
        new = _index_entry_size(index, after, table_keys)
        keys = [k for k in (index["partition_key"], index.get("sort_key")) if k]
        if old is None and new is None:
            continue
        if old is None or new is None:
            units += write_units(old or 0, new or 0)
        elif any((before or {}).get(k) != (after or {}).get(k) for k in keys):
            units += write_units(old, 0) + write_units(0, new)
        elif _projected(index, before, table_keys) != _projected(index, after, table_keys):
            units += write_units(old, new)
    return units


def _projected(
    index: Mapping[str, Any], item: Mapping[str, Mapping[str, Any]] | None, table_keys: tuple[str, ...]
) -> dict[str, Any]:
    if not item or index.get("projection", "ALL") == "ALL":
        return dict(item or {})
    keys = [k for k in (index["partition_key"], index.get("sort_key")) if k]
    kept = {*keys, *table_keys, *index.get("attributes", ())}
    return {k: v for k, v in item.items() if k in kept}
