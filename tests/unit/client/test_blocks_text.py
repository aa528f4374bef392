"""Blocks in a terminal: a message's blocks print as text with numbered actions, each number naming
the action and the values it sends; a closed poll offers no vote."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from parley.blocks import parse_blocks
from parley.catalog import MessageView
from parley_client.blocks import choices, lines

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def message(blocks: list[dict[str, Any]], **extra: Any) -> MessageView:
    return MessageView(
        message_id="m-1",
        chat_id="c-1",
        sequence=3,
        sender_id="ext:poll",
        sender_name="Poll",
        sender_kind="extension",
        text="Poll: Lunch?",
        created_at=NOW,
        blocks=parse_blocks(blocks),
        blocks_version=1,
        **extra,
    )


POLL = {
    "type": "poll",
    "action_id": "vote",
    "question": "Lunch?",
    "options": [{"id": "o1", "label": "Pizza", "count": 1}, {"id": "o2", "label": "Sushi", "count": 3}],
}
CLOSE = {"type": "buttons", "buttons": [{"action_id": "close", "label": "Close poll", "style": "danger"}]}


def test_a_poll_prints_its_counts_and_numbers_each_vote_and_button() -> None:
    shown = lines(message([POLL, CLOSE], edited_at=NOW, version=2), NOW)
    assert shown == [
        "#3 Poll (edited):",
        "  Lunch?",
        "  [1] Pizza                ##         1",
        "  [2] Sushi                ########   3",
        "  [3] Close poll",
    ]
    picked = choices(message([POLL, CLOSE]).blocks or (), NOW)
    assert [(c.number, c.action_id, c.values) for c in picked] == [
        (1, "vote", {"option": "o1"}),
        (2, "vote", {"option": "o2"}),
        (3, "close", {}),
    ]


def test_a_closed_or_due_poll_offers_no_vote() -> None:
    for closed in ({**POLL, "closed": True}, {**POLL, "closes_at": "2026-12-01T11:00:00Z"}):
        shown = lines(message([closed]), NOW)
        assert shown[1] == "  Lunch? (closed)"
        assert not any("[" in line for line in shown)
        assert choices(message([closed]).blocks or (), NOW) == []


def test_sections_selects_and_forms_print_with_their_numbers() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": "Deploy build 42?\nIt passed."},
        {
            "type": "select",
            "action_id": "env",
            "label": "Where",
            "options": [{"value": "p", "label": "prod"}],
        },
        {
            "type": "form",
            "action_id": "why",
            "inputs": [{"name": "reason", "label": "Reason", "required": True}],
        },
    ]
    assert lines(message(blocks), NOW)[1:] == [
        "  Deploy build 42?",
        "  It passed.",
        "  Where:",
        "  [1] prod",
        "  [2] Submit: reason* (Reason)",
    ]
    form = choices(message(blocks).blocks or (), NOW)[1]
    assert form.form is not None
    assert form.action_id == "why"


def test_a_plain_message_is_one_line() -> None:
    plain = MessageView(
        message_id="m",
        chat_id="c",
        sequence=1,
        sender_id="u",
        sender_name="Alice",
        sender_kind="human",
        text="hi",
        created_at=NOW,
    )
    assert lines(plain) == ["#1 Alice: hi"]
