"""Slash commands and the poll on the real local stack, through the Python client: `/poll` typed by
Alice is no message but a poll posted by the poll extension; Bob's votes (one, changeable) and
Alice's close update that message, and history shows its latest version, marked edited."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from parley.catalog import MessageView
from parley_client import Client, local_token
from parley_client.models import AcceptedCommand
from tests.support.cli import User as CliUser


def client(stack: str, name: str) -> Client:
    user_id = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    return Client(stack, token=local_token(stack, user_id, name=name))


def wait_for(find: Callable[[], MessageView | None], timeout: float = 20.0) -> MessageView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError("the poll did not reach the state expected in time")


def counts(message: MessageView) -> list[int]:
    poll = (message.blocks or ())[0]
    return [o.count for o in poll.options]  # type: ignore[union-attr]


def test_a_poll_from_a_slash_command_counts_changeable_votes_and_closes(stack: str) -> None:
    alice, bob = client(stack, "Alice"), client(stack, "Bob")
    chat_id = alice.create_chat("Lunch", mode="free").chat_id
    bob.join(chat_id)
    alice.put_install(chat_id, "poll", enabled=True, config={})
    assert [c.name for c in bob.commands(chat_id)] == ["poll"]

    # When Alice types the command (retried with the same id: one command)
    first = alice.command(chat_id, '/poll "Lunch?" "Pizza" "Sushi"', client_message_id="p-1")
    again = alice.command(chat_id, '/poll "Lunch?" "Pizza" "Sushi"', client_message_id="p-1")
    assert isinstance(first, AcceptedCommand)
    assert isinstance(again, AcceptedCommand)
    assert again.command_id == first.command_id

    def poll_message(version: int = 1) -> Callable[[], MessageView | None]:
        def find() -> MessageView | None:
            found = [m for m in bob.history(chat_id) if m.blocks]
            return found[0] if len(found) == 1 and found[0].version >= version else None

        return find

    # Then one poll message comes from the poll extension, and the command text is not a message
    posted = wait_for(poll_message())
    assert (posted.sender_id, counts(posted)) == ("ext:poll", [0, 0])
    assert all(not m.text.startswith("/poll") for m in bob.history(chat_id))

    # When Bob votes Pizza, then changes to Sushi
    bob.act(chat_id, posted.message_id, "vote", {"option": "o1"})
    assert counts(wait_for(poll_message(2))) == [1, 0]
    bob.act(chat_id, posted.message_id, "vote", {"option": "o2"})
    changed = wait_for(poll_message(3))
    assert counts(changed) == [0, 1]
    assert changed.edited_at is not None

    # When Alice closes it, Then history shows it closed with Bob's one vote
    alice.act(chat_id, posted.message_id, "close")
    closed = wait_for(poll_message(4))
    assert closed.blocks[0].closed  # type: ignore[index, union-attr]
    assert counts(closed) == [0, 1]


def test_the_cli_sends_a_poll_prints_it_with_numbered_actions_and_votes(stack: str, tmp_path: Path) -> None:
    ada = CliUser(stack, tmp_path / "ada.json")
    assert "signed in" in ada.ok("login", f"ada-{uuid.uuid4().hex[:8]}", "--name", "Ada")
    chat_id = ada.ok("chat", "create", "Standup").strip()
    ada.ok("ext", "enable", chat_id, "poll")
    assert "/poll" in ada.ok("commands", chat_id)

    # When Ada sends the command, Then the CLI says where it went, and no message was stored
    assert "sent to poll" in ada.ok("send", chat_id, '/poll "Ship it?" Yes No')
    deadline = time.monotonic() + 20
    while "Ship it?" not in (shown := ada.ok("history", chat_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    # And history prints the poll with its numbered actions
    assert "  Ship it?" in shown
    assert "[1] Yes" in shown
    assert "[3] Close poll" in shown
    header = next(line for line in shown.splitlines() if line.startswith("#") and " Poll" in line)
    sequence = header.split()[0].lstrip("#")

    # When Ada picks action 1 (a vote for Yes), Then the count moves
    assert "Yes: sent" in ada.ok("act", chat_id, sequence, "1")
    while "(edited)" not in (shown := ada.ok("history", chat_id)) and time.monotonic() < deadline + 20:
        time.sleep(0.2)
    assert [line.split()[-1] for line in shown.splitlines() if "] Yes" in line] == ["1"]
