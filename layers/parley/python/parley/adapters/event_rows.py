"""How an event-log row stores its event, and the one way every reader gets the event back.

A post's transaction bills each item twice per started kilobyte, and the MessageStored row of a
200-character post was ~1,170 B as JSON (2 WRU x2): issue 15. A row written now keeps its event in
``body``: one format byte, then the event's JSON (``Envelope.to_json``, byte for byte) deflated with
a preset dictionary of the envelope's usual keys, the row's event type and its chat id (both known
to every reader from the row itself, so they cost a few bytes however often they occur). The row
drops ``event_id`` and ``occurred_at``, which only repeated the JSON. A 200-character post's row is
~370-430 B (1 WRU x2); a 2,000-character one under 1 KB (390-850 B measured) instead of 3.

Dual read: a row written before keeps its JSON in ``detail`` (a string) and still reads as it is.
Every reader (the stream consumers, GET messages and events, history, replay, backfill, the local
stack's stream reader) goes through ``detail_text``; no pynamodb here, so stream consumers stay light.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from typing import Any

FORMAT_DEFLATE_V1 = 1
"""The first byte of ``body``: raw deflate (no zlib header) with ``DICTIONARY_V1``. Another format or
dictionary takes another byte: a stored row never changes, so neither may this."""

DICTIONARY_V1 = (
    b'"role":"member"},"turn_mode":"free","joined_at":"","ai":null,"participants":[{"id":"'
    b'","kind":"human","role":"owner"}],"settings":{"extension_id":"","config":{},"enabled":true,'
    b'"reason":"","blocks":null,"blocks_version":null,"version":1,"edited_at":null,"to":["'
    b'{"metadata":{"event_id":"","event_type":"","version":1,"chat_id":"","sequence":1,'
    b'"correlation_id":"","causation_id":null,"actor":{"id":"user-","kind":"user","name":""},'
    b'"occurred_at":"2026-12-01T00:00:00.000000Z","roster_version":1,"extensions":["analytics"],'
    b'"audience":null},"data":{"message":{"message_id":"","chat_id":"","sequence":1,"sender_id":"'
    b'user-","sender_name":"","sender_kind":"human","text":"","client_message_id":"","created_at":"'
    b'2026-12-01T00:00:00.000000Z","to":null},"turn_mode":"free","turn_number":0}}'
)
"""The strings most events repeat, the likeliest last (deflate reaches them with the shortest codes).
Pinned by ``tests/unit/test_event_rows.py``: changing it makes every row written with it unreadable."""

LEVEL = 6
"""zlib's default: on 1-3 KB events 9 packed no smaller (measured), and readers never need to know."""


class EventRowError(Exception):
    """An event-log row that holds no event this code can read (no body, or an unknown format)."""


def _dictionary(chat_id: str, event_type: str) -> bytes:
    return DICTIONARY_V1 + event_type.encode() + b'","chat_id":"' + chat_id.encode()


def pack(detail: str, *, chat_id: str, event_type: str) -> bytes:
    """The ``body`` of a row holding ``detail`` (the event's JSON) of ``event_type`` in ``chat_id``."""
    packer = zlib.compressobj(
        LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _dictionary(chat_id, event_type)
    )
    return bytes([FORMAT_DEFLATE_V1]) + packer.compress(detail.encode()) + packer.flush()


def _unpack(body: bytes, chat_id: str, event_type: str) -> str:
    if not body or body[0] != FORMAT_DEFLATE_V1:
        raise EventRowError(f"an event row of chat {chat_id} has an unknown body format")
    try:
        unpacker = zlib.decompressobj(-15, _dictionary(chat_id, event_type))
        text = unpacker.decompress(body[1:]) + unpacker.flush()
        if not unpacker.eof:
            raise EventRowError(f"an event row of chat {chat_id} ends before its event does")
        return text.decode()
    except (zlib.error, UnicodeDecodeError) as exc:
        raise EventRowError(f"an event row of chat {chat_id} does not inflate") from exc


def detail_text(row: Mapping[str, Any]) -> str:
    """The event's JSON (as ``Envelope.to_json`` wrote it) that a row holds, from the row's attributes
    as plain values (``chat_id``, ``event_type``, and ``body`` bytes or the older ``detail`` string)."""
    body = row.get("body")
    if body is not None:
        return _unpack(bytes(body), str(row["chat_id"]), str(row["event_type"]))
    detail = row.get("detail")
    if detail is None:
        raise EventRowError(f"an event row of chat {row.get('chat_id')} holds no event")
    return str(detail)


def image_row(image: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A stream record's image (DynamoDB JSON) as plain values: a binary is base64 text in a Lambda
    event and bytes from boto3 (the local stack's stream reader)."""
    row: dict[str, Any] = {}
    for name, value in image.items():
        ((kind, raw),) = value.items()
        if kind == "B":
            row[name] = raw if isinstance(raw, bytes | bytearray) else base64.b64decode(raw)
        elif kind in ("S", "N"):
            row[name] = raw
    return row


def image_detail(image: Mapping[str, Mapping[str, Any]]) -> str:
    """The event's JSON in a stream record's new image (``detail_text`` on ``image_row``)."""
    return detail_text(image_row(image))
