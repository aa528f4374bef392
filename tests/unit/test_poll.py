"""The `poll` extension: its pure rules (args, tally, one changeable vote, closing) and its handlers on
in-memory ports (a command posts a poll; votes, the author's close and a due time update it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from parley.adapters.memory import InMemoryPublisher, InMemoryStore
from parley.blocks import parse_blocks
from parley.catalog import (
    CORE_SOURCE,
    Actor,
    Envelope,
    InteractionSubmitted,
    SlashCommandInvoked,
    extension_message_id,
    new_event,
)
from parley.domain import extensions as installs
from parley.extensions.builtin import poll as polls
from parley.extensions.builtin.poll import PollConfig, PollState, PollUsageError
from parley.extensions.sdk import CommandCall, Runtime
from tests.unit.chats import OWNER, at, new_chat

ALICE = Actor(id="user-alice", kind="user", name="Alice")


def call(*args: str, actor: Actor = ALICE) -> CommandCall:
    return CommandCall("cmd-1", "poll", args, "/poll ...", actor)


def lunch(**update: Any) -> PollState:
    poll = polls.start(call("Lunch?", "Pizza", "Sushi"), PollConfig(), message_id="m-1", now=at(0))
    return poll.model_copy(update=update)


# -- pure rules --------------------------------------------------------------------------------------


def test_a_command_makes_a_poll_of_its_question_and_options() -> None:
    poll = polls.start(
        call("Lunch?", "Pizza", "Sushi", "--closes", "10m"), PollConfig(), message_id="m", now=at(0)
    )
    assert (poll.question, poll.options, poll.author_id) == ("Lunch?", ("Pizza", "Sushi"), ALICE.id)
    assert poll.closes_at == at(0) + timedelta(minutes=10)


def test_without_closes_the_configs_default_applies_or_none() -> None:
    assert lunch().closes_at is None
    poll = polls.start(call("Q?", "a", "b"), PollConfig(default_close_minutes=5), message_id="m", now=at(0))
    assert poll.closes_at == at(0) + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("Lunch?", "Pizza"), "2 to 10 options"),
        ((), "question"),
        (("Q?", *[f"o{n}" for n in range(11)]), "2 to 10 options"),
        (("Q?", "a", "a"), "distinct"),
        (("Q?", "a", "b", "--closes", "soon"), "duration"),
        (("Q?", "a", "b", "--closes", "30s"), "between 1m and 7d"),
        (("Q?", "a", "b", "--closes", "8d"), "between 1m and 7d"),
        (("Q?", "a", "b", "--secret"), "unknown option --secret"),
        (("Q?", "a", "x" * 76), "at most 75"),
    ],
)
def test_a_command_that_makes_no_poll_says_why(args: tuple[str, ...], problem: str) -> None:
    with pytest.raises(PollUsageError, match=problem):
        polls.start(call(*args), PollConfig(), message_id="m", now=at(0))


def test_one_vote_per_member_changeable_and_counted_once() -> None:
    poll = polls.vote(lunch(), "bob", "o1")
    poll = polls.vote(poll, "carol", "o1")
    assert polls.tally(poll) == {"o1": 2, "o2": 0}
    poll = polls.vote(poll, "bob", "o2")  # Bob changes his mind
    assert polls.tally(poll) == {"o1": 1, "o2": 1}
    assert polls.vote(poll, "bob", "o2") is poll  # the same vote again changes nothing
    assert polls.vote(poll, "bob", "o9") is poll  # no such option
    assert polls.vote(polls.close(poll), "dave", "o1").votes == poll.votes  # closed: no more votes
    assert (poll.revision, polls.close(poll).revision) == (3, 4)  # every change counted


def test_the_blocks_follow_the_schema_with_counts_and_a_close_button_while_open() -> None:
    poll = polls.vote(lunch(closes_at=at(60)), "bob", "o2")
    shown = parse_blocks(polls.blocks(poll))
    assert [b.type for b in shown] == ["poll", "buttons"]
    assert [(o.label, o.count) for o in shown[0].options] == [("Pizza", 0), ("Sushi", 1)]  # type: ignore[union-attr]
    closed = parse_blocks(polls.blocks(polls.close(poll)))
    assert [b.type for b in closed] == ["poll"]
    assert closed[0].closed  # type: ignore[union-attr]
    assert polls.text(polls.close(poll)) == "Poll (closed): Lunch?\n- Pizza: 0\n- Sushi: 1"


def test_a_poll_is_due_at_its_time_unless_already_closed() -> None:
    poll = lunch(closes_at=at(60))
    assert not poll.due(at(59))
    assert poll.due(at(60))
    assert not polls.close(poll).due(at(61))
    assert not lunch().due(at(10_000))


# -- handlers on in-memory ports ------------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.chat = installs.put_install(
            new_chat("free"),
            user_id=OWNER,
            extension_id="poll",
            version="1.0.0",
            enabled=True,
            config={},
            now=at(0),
        ).chat
        self.bus = InMemoryPublisher()
        self.store = InMemoryStore()
        polls.extension.use(
            Runtime(
                load_chat=lambda _: self.chat,
                registry=lambda: {"poll": polls.extension.manifest.document()},
                publish=self.bus.publish,
                state=lambda ext, chat: self.store,
            )
        )

    def deliver(self, envelope: Envelope[Any]) -> bool:
        return polls.extension.handle(envelope, CORE_SOURCE)

    def command(self, *args: str, seconds: int = 1, actor: Actor = ALICE) -> Envelope[Any]:
        data = SlashCommandInvoked(
            extension_id="poll", command_id=f"c{seconds}", command="poll", args=args, raw=""
        )
        return new_event(
            data, chat_id=self.chat.chat_id, actor=actor, occurred_at=at(seconds), extensions=("poll",)
        )

    def act(self, message_id: str, who: str, action: str, seconds: int, **values: Any) -> Envelope[Any]:
        data = InteractionSubmitted(
            submission_id=f"s{seconds}{who}",
            client_action_id=f"a{seconds}{who}",
            message_id=message_id,
            message_version=1,
            extension_id="poll",
            action_id=action,
            values=values,
            participant_id=who,
        )
        return new_event(
            data, chat_id=self.chat.chat_id, actor=Actor(id=who, kind="user"), occurred_at=at(seconds)
        )

    def outputs(self, event_type: str) -> list[Any]:
        return [e.data for e in self.bus.published if e.event_type == event_type]


def test_a_poll_is_posted_voted_changed_and_closed_by_its_author_only() -> None:
    world = World()
    # When Alice types the command
    assert world.deliver(world.command("Lunch?", "Pizza", "Sushi"))
    (posted,) = world.outputs("ExtensionMessageRequested")
    message_id = extension_message_id("poll", posted.request_id)
    assert posted.blocks[0].question == "Lunch?"
    # When Bob votes, then changes his vote, then a redelivery of the change comes
    change = world.act(message_id, "bob", "vote", 3, option="o2")
    for event in (world.act(message_id, "bob", "vote", 2, option="o1"), change):
        assert world.deliver(event)
    assert not world.deliver(change)  # handled once
    counts = [
        [o.count for o in u.blocks[0].options] for u in world.outputs("ExtensionMessageUpdateRequested")
    ]
    assert counts == [[1, 0], [0, 1]]
    # When Bob tries to close it, he alone is told he may not
    world.deliver(world.act(message_id, "bob", "close", 4))
    assert [e.participant_id for e in world.outputs("ExtensionEphemeralRequested")] == ["bob"]
    # When Alice closes it, the message shows it closed, with no close button
    world.deliver(world.act(message_id, ALICE.id, "close", 5))
    last = world.outputs("ExtensionMessageUpdateRequested")[-1]
    assert last.blocks[0].closed
    assert len(last.blocks) == 1
    # And a later vote changes nothing
    world.deliver(world.act(message_id, "carol", "vote", 6, option="o1"))
    assert len(world.outputs("ExtensionMessageUpdateRequested")) == 3
    # And each update counts its state, so the core can drop one that arrives after a newer one
    assert [u.revision for u in world.outputs("ExtensionMessageUpdateRequested")] == [1, 2, 3]


def test_a_poll_past_its_time_is_closed_on_the_chats_next_poll_event() -> None:
    world = World()
    world.deliver(world.command("Lunch?", "Pizza", "Sushi", "--closes", "1m"))
    (posted,) = world.outputs("ExtensionMessageRequested")
    message_id = extension_message_id("poll", posted.request_id)
    # When a new poll starts after the first one's time
    world.deliver(world.command("Dinner?", "Soup", "Salad", seconds=120))
    # Then the first is marked closed with its final counts
    (update,) = world.outputs("ExtensionMessageUpdateRequested")
    assert (update.message_id, update.blocks[0].closed) == (message_id, True)
    assert message_id not in (world.store.get(polls.OPEN_KEY) or {})


@pytest.mark.parametrize(("closing", "reads"), [("author", 2), ("due", 1)])
def test_a_vote_committed_while_the_poll_closes_is_kept_in_its_final_counts(closing: str, reads: int) -> None:
    world = World()
    world.deliver(world.command("Lunch?", "Pizza", "Sushi", "--closes", "1m"))
    (posted,) = world.outputs("ExtensionMessageRequested")
    message_id = extension_message_id("poll", posted.request_id)
    key, read = polls._key(message_id), world.store.read
    raced: list[str] = []

    def read_then_carol_votes(wanted: str) -> tuple[str | None, int]:
        """Carol's vote commits (another delivery) just after the close reads the poll (the
        author's click reads it once to know it is a poll, then to close it)."""
        seen = read(wanted)
        if wanted == key:
            raced.append(wanted)
        if wanted == key and len(raced) == reads:
            world.store.update(key, lambda p: {**(p or {}), "votes": {"carol": "o1"}})
        return seen

    world.store.read = read_then_carol_votes  # type: ignore[method-assign,assignment]
    # When the poll closes (its author's click, or its time on the chat's next poll event)
    if closing == "author":
        world.deliver(world.act(message_id, ALICE.id, "close", 5))
    else:
        world.deliver(world.command("Dinner?", "Soup", "Salad", seconds=120))
    # Then the store and the closed message both keep Carol's vote
    assert raced
    final = world.store.values[key]
    assert (final["closed"], final["votes"]) == (True, {"carol": "o1"})
    shown = world.outputs("ExtensionMessageUpdateRequested")[-1]
    assert [o.count for o in shown.blocks[0].options] == [1, 0]


def test_a_bad_command_tells_its_author_how_to_use_it() -> None:
    world = World()
    world.deliver(world.command("Lunch?", "Pizza"))
    assert world.outputs("ExtensionMessageRequested") == []
    (told,) = world.outputs("ExtensionEphemeralRequested")
    assert told.participant_id == ALICE.id
    assert "Usage: /poll" in told.text
