"""The AWS event stream wire format (application/vnd.amazon.eventstream), as Bedrock's ConverseStream
sends it, so tests feed botocore's real parser instead of hand-made dicts."""

from __future__ import annotations

import binascii
import json
import struct
from typing import Any


def _header(name: str, value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(name)]) + name.encode() + bytes([7]) + struct.pack(">H", len(encoded)) + encoded


def frame(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """One message of the AWS event stream encoding (application/vnd.amazon.eventstream)."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    body = json.dumps(payload).encode()
    total = 12 + len(head) + len(body) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + body
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    return frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def exception(exception_type: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        {"message": message},
    )
