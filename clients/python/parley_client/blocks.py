"""An extension message's blocks as terminal text, with its actions numbered so a person can pick one
(``parley act CHAT MESSAGE N``): each button, each option of a select, each option of an open poll,
and each form (whose values come with ``--value name=...``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from parley.blocks import Block, Buttons, Form, Poll, Section, Select
from parley.catalog import MessageView


@dataclass(frozen=True)
class Choice:
    """One numbered thing to do: the action to submit, with the values it sends."""

    number: int
    action_id: str
    label: str
    values: dict[str, Any] = field(default_factory=dict)
    form: Form | None = None
    """A form's values are the person's: ``parley act ... --value name=...``."""


def poll_closed(poll: Poll, now: datetime | None = None) -> bool:
    """Closed by its extension, or past its closing time (the server refuses a late vote)."""
    at = now or datetime.now(UTC)
    return poll.closed or (poll.closes_at is not None and at >= poll.closes_at)


def choices(blocks: Sequence[Block], now: datetime | None = None) -> list[Choice]:
    """Every action of the blocks, numbered from 1 in the order they show."""
    found: list[tuple[str, str, dict[str, Any], Form | None]] = []
    for block in blocks:
        if isinstance(block, Buttons):
            found += [(b.action_id, b.label, {}, None) for b in block.buttons]
        elif isinstance(block, Select):
            found += [(block.action_id, o.label, {"value": o.value}, None) for o in block.options]
        elif isinstance(block, Poll) and not poll_closed(block, now):
            found += [(block.action_id, o.label, {"option": o.id}, None) for o in block.options]
        elif isinstance(block, Form):
            found.append((block.action_id, block.submit_label, {}, block))
    return [Choice(n, a, label, values, form) for n, (a, label, values, form) in enumerate(found, start=1)]


def _key(action_id: str, values: dict[str, Any]) -> tuple[str, str]:
    """A choice's identity in its message: its action and what it sends (labels may repeat)."""
    return action_id, json.dumps(values, sort_keys=True)


def _poll_lines(poll: Poll, numbers: dict[tuple[str, str], int], now: datetime | None) -> list[str]:
    total = sum(o.count for o in poll.options) or 1
    closed = poll_closed(poll, now)
    lines = [f"  {poll.question}{' (closed)' if closed else ''}"]
    for option in poll.options:
        bar = "#" * round(10 * option.count / total)
        number = numbers.get(_key(poll.action_id, {"option": option.id}))
        mark = f"[{number}]" if number and not closed else "   "
        lines.append(f"  {mark} {option.label:<20} {bar:<10} {option.count}")
    return lines


def lines(message: MessageView, now: datetime | None = None) -> list[str]:
    """The message as terminal lines: its header, then its blocks with numbered actions (or its text)."""
    edited = " (edited)" if message.edited_at else ""
    head = f"#{message.sequence} {message.sender_name}{edited}:"
    if not message.blocks:
        return [f"{head} {message.text}"]
    numbered = choices(message.blocks, now)
    numbers = {_key(c.action_id, c.values): c.number for c in numbered}
    out = [head]
    for block in message.blocks:
        if isinstance(block, Section):
            out += [f"  {line}" for line in block.text.splitlines()]
        elif isinstance(block, Poll):
            out += _poll_lines(block, numbers, now)
        elif isinstance(block, Buttons):
            out += [f"  [{numbers[_key(b.action_id, {})]}] {b.label}" for b in block.buttons]
        elif isinstance(block, Select):
            out.append(f"  {block.label or 'Choose one'}:")
            out += [
                f"  [{numbers[_key(block.action_id, {'value': o.value})]}] {o.label}" for o in block.options
            ]
        elif isinstance(block, Form):
            fields = ", ".join(f"{i.name}{'*' if i.required else ''} ({i.label})" for i in block.inputs)
            out.append(f"  [{numbers[_key(block.action_id, {})]}] {block.submit_label}: {fields}")
    return out
