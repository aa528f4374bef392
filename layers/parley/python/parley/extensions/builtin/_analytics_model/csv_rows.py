"""Any report as one tidy CSV table: (section, subject, metric, value) rows, RFC 4180."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

CSV_COLUMNS = ("section", "subject", "metric", "value")

Row = tuple[str, str, str, str]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def rows(document: Mapping[str, Any]) -> list[Row]:
    """A report (as JSON) as (section, subject, metric, value) rows.

    Top-level scalars are in section ``chat`` (or ``report``); a nested object is a section named by
    its dotted path; an object of objects (``by_kind``) and a list of objects (``by_sender``,
    ``daily``) are collections: one subject per key, or per item's first field (its id).
    """
    out: list[Row] = []
    top = "chat" if "chat_id" in document else "report"
    _record(out, top, "", {k: v for k, v in document.items() if _scalar(v)})
    for key, value in document.items():
        if isinstance(value, list):
            _collection(out, key, value)
        elif isinstance(value, dict):
            _record(out, key, "", value)
    return out


def _record(out: list[Row], section: str, subject: str, obj: Mapping[str, Any]) -> None:
    for key, value in obj.items():
        path = f"{section}.{key}"
        if _scalar(value):
            out.append((section, subject, key, _cell(value)))
        elif isinstance(value, list):
            _collection(out, path, value)
        elif value and all(isinstance(v, dict) for v in value.values()):
            for name, item in value.items():
                _record(out, path, name, item)
        elif value:
            _record(out, path, subject, value)


def _collection(out: list[Row], path: str, items: list[Any]) -> None:
    for item in items:
        ident, *_ = item
        _record(out, path, _cell(item[ident]), {k: v for k, v in item.items() if k != ident})


def to_csv(document: Mapping[str, Any]) -> str:
    """RFC 4180: a header row, CRLF line ends, fields quoted where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows(document))
    return buffer.getvalue()
