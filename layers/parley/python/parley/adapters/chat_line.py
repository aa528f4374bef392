"""The chat head's ``inbox`` attribute: the chat list's line (``parley.domain.inbox.ChatLine``) in as
few bytes as it takes, since every post rewrites the head and a transaction bills it per kilobyte.

The head always goes with one version of the roster (its ``cold_version``), so people are written as
their place in it: each person's latest post is a list in roster order, and the preview's sender a
number when the roster already says their name and kind (a bot, or someone who left or was renamed
since, is spelled out). A UUID message id is its 16 bytes in base64, the time microseconds since the
epoch. ``tests/unit/test_chat_item_budget.py`` holds the head to one write unit at ten members."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from parley.domain.inbox import PREVIEW_LENGTH, ChatLine, LastMessage
from parley.domain.model import Participant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int | str:
    """Microseconds since the epoch when that reads back as the same value (UTC), else ISO 8601."""
    if at.utcoffset() != timedelta(0):
        return at.isoformat()
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _when(stored: int | str) -> datetime:
    return (
        datetime.fromisoformat(stored) if isinstance(stored, str) else EPOCH + timedelta(microseconds=stored)
    )


def _message_id(message_id: str) -> dict[str, str]:
    try:
        parsed = uuid.UUID(message_id)
    except ValueError:
        return {"i": message_id}
    if str(parsed) != message_id:  # another spelling of a UUID: kept as it was given
        return {"i": message_id}
    return {"u": base64.urlsafe_b64encode(parsed.bytes).decode().rstrip("=")}


def _sender(last: LastMessage, roster: Sequence[Participant]) -> dict[str, Any]:
    for place, person in enumerate(roster):
        if (person.id, person.name, person.kind) == (last.sender_id, last.sender_name, last.sender_kind):
            return {"s": place}
    return {"s": last.sender_id, "n": last.sender_name, "k": last.sender_kind}


def _preview(last: LastMessage, version: int, roster: Sequence[Participant], text: bool) -> dict[str, Any]:
    data: dict[str, Any] = {**_message_id(last.message_id), **_sender(last, roster)}
    if text:
        data["t"] = last.text
    data.update(q=last.sequence, c=_micros(last.created_at))
    if last.truncated:
        data["x"] = 1
    if version > 1:
        data["v"] = version
    return data


def encode_line(line: ChatLine | None, roster: Sequence[Participant], *, text: bool = True) -> str | None:
    """The attribute's JSON (None: nothing to carry). A post by someone no longer in the roster is
    forgotten with them: they have no chat line, and the list stays bounded by the roster. Without
    ``text``, the preview's text is left out (``ChatLine.spilled``)."""
    if line is None:
        return None
    posted = [line.posted.get(person.id, 0) for person in roster]
    while posted and not posted[-1]:
        posted.pop()
    data: dict[str, Any] = {}
    if line.last is not None:
        data["m"] = _preview(line.last, line.version, roster, text and not line.spilled)
    if posted:
        data["p"] = posted
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else None


def _last(data: dict[str, Any], roster: Sequence[Participant]) -> LastMessage:
    sender = data["s"]
    if isinstance(sender, int):
        person = roster[sender]
        who = {"sender_id": person.id, "sender_name": person.name, "sender_kind": person.kind}
    else:
        who = {"sender_id": sender, "sender_name": data["n"], "sender_kind": data["k"]}
    packed = data.get("u")
    message_id = str(uuid.UUID(bytes=base64.urlsafe_b64decode(packed + "=="))) if packed else data["i"]
    return LastMessage(
        message_id=message_id,
        **who,
        text=data.get("t", "")[:PREVIEW_LENGTH],
        truncated=bool(data.get("x")),
        sequence=data["q"],
        created_at=_when(data["c"]),
    )


def decode_line(stored: str | None, roster: Sequence[Participant]) -> ChatLine | None:
    """The line as ``encode_line`` wrote it with the same roster (None: a head written before the
    line existed, whose chat list falls back to the inbox table's rows)."""
    if stored is None:
        return None
    data = json.loads(stored)
    posted = {person.id: at for person, at in zip(roster, data.get("p", ()), strict=False) if at}
    preview = data.get("m")
    if preview is None:
        return ChatLine(posted=posted)
    return ChatLine(_last(preview, roster), int(preview.get("v", 1)), posted, spilled="t" not in preview)


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """An upper bound of a serialized item's size as DynamoDB bills it (strings and numbers only:
    a number takes at most one byte per two digits, plus one)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += (len(value["N"]) + 1) // 2 + 2
        else:
            raise TypeError(f"a chat head holds strings and numbers only, not {value!r}")
    return size
