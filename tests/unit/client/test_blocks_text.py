"""Blocks in a terminal: a message's blocks print as text with numbered actions, each number naming
the action and the values it sends; a closed poll offers no vote."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from parley.blocks import parse_blocks
from parley.catalog import MessageView
from parley_client.blocks import choices, lines
from parley_client.cli import EXIT_USAGE, main
from parley_client.cli.context import Context

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


class FakeClient:
    """The two calls `parley act` makes: read the message by sequence, submit the action."""

    def __init__(self, shown: MessageView) -> None:
        self.shown = shown
        self.acted: list[tuple[str, str, str, dict[str, Any]]] = []

    def messages(self, chat_id: str, *, after: int, limit: int) -> Any:
        return SimpleNamespace(items=[self.shown] if after == self.shown.sequence - 1 else [])

    def act(self, chat_id: str, message_id: str, action_id: str, values: dict[str, Any]) -> Any:
        self.acted.append((chat_id, message_id, action_id, values))
        return SimpleNamespace(submission_id="s-1")


def test_parley_act_lists_a_messages_actions_and_submits_the_one_picked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PARLEY_CONFIG", str(tmp_path / "config.json"))
    form = {"type": "form", "action_id": "why", "inputs": [{"name": "reason", "label": "Reason"}]}
    fake = FakeClient(message([POLL, CLOSE, form]))
    monkeypatch.setattr(Context, "client", lambda self: fake)
    monkeypatch.setenv("PARLEY_TOKEN", "t")
    # Without a number it lists them
    assert main(["act", "c-1", "3"]) == 0
    assert "[2] Sushi" in capsys.readouterr().out
    # With one it submits that action and its values; a form's come from --value
    assert main(["act", "c-1", "#3", "2"]) == 0
    assert main(["act", "c-1", "3", "4", "--value", "reason=ship it"]) == 0
    assert fake.acted == [
        ("c-1", "m-1", "vote", {"option": "o2"}),
        ("c-1", "m-1", "why", {"reason": "ship it"}),
    ]
    # A number it does not have is a usage error, as is a message that is not there
    assert main(["act", "c-1", "3", "9"]) == EXIT_USAGE
    assert main(["act", "c-1", "7", "1"]) == EXIT_USAGE
