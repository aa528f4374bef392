"""The chat head's line reads back exactly as written, whatever the roster did since its last write,
and spends bytes only where the roster cannot say it (``parley.adapters.chat_line``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from parley.adapters.chat_line import decode_line, encode_line
from parley.domain.inbox import ChatLine, LastMessage
from parley.domain.model import Participant

AT = datetime(2026, 12, 2, 5, 30, 1, 123456, tzinfo=UTC)


def person(user_id: str, name: str, kind: str = "human") -> Participant:
    return Participant.model_validate(
        {"id": user_id, "name": name, "kind": kind, "role": "member", "joined_at": AT.isoformat()}
    )


ALICE, BOB, ORACLE = (
    person("user-alice", "Alice"),
    person("user-bob", "Bob"),
    person("oracle", "Oracle", "ai"),
)


def last(**changes: object) -> LastMessage:
    base = LastMessage(
        message_id="2261b0b6-914f-4fd2-9949-9b66b1d714fb",
        sender_id="user-bob",
        sender_name="Bob",
        sender_kind="human",
        text="hello",
        truncated=False,
        sequence=7,
        created_at=AT,
    )
    return base.model_copy(update=changes)


def test_a_line_reads_back_the_same_and_names_roster_members_by_their_place() -> None:
    roster = (ALICE, ORACLE, BOB)
    line = ChatLine(last(), 2, {"user-alice": 5, "user-bob": 7})
    stored = encode_line(line, roster)
    assert stored is not None
    data = json.loads(stored)
    assert data["p"] == [5, 0, 7]  # in roster order, the AI none
    assert data["m"]["s"] == 2
    assert "n" not in data["m"]
    assert len(data["m"]["u"]) == 22  # a UUID's 16 bytes
    assert decode_line(stored, roster) == line


def test_what_the_roster_cannot_say_is_spelled_out() -> None:
    roster = (ALICE,)
    odd = [
        last(),  # Bob left since
        last(sender_id="user-alice", sender_name="Alice (renamed)"),
        last(sender_id="ext:lunch", sender_name="Lunch", sender_kind="extension", message_id="m-1"),
        last(created_at=AT.astimezone(timezone(timedelta(hours=2))), truncated=True),
        last(message_id="2261B0B6-914F-4FD2-9949-9B66B1D714FB"),  # a UUID, spelt otherwise
    ]
    for preview in odd:
        line = ChatLine(preview, 1, {"user-alice": 3})
        assert decode_line(encode_line(line, roster), roster) == line
    assert decode_line(encode_line(ChatLine(), roster), roster) is None  # nothing to carry


def test_a_person_who_left_is_forgotten_with_their_place() -> None:
    line = ChatLine(None, 1, {"user-alice": 3, "user-bob": 4})
    assert decode_line(encode_line(line, (ALICE,)), (ALICE,)) == ChatLine(None, 1, {"user-alice": 3})
    assert decode_line(None, (ALICE,)) is None  # a head written before it carried a line


def test_a_spilled_preview_reads_back_without_its_text() -> None:
    line = ChatLine(last(), 1, {})
    back = decode_line(encode_line(line, (BOB,), text=False), (BOB,))
    assert back == ChatLine(last(text=""), 1, {}, spilled=True)
