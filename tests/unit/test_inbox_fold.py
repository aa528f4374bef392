"""The inbox fold: a message's update moves its preview forward by version, never an older message's;
the chat head's line is the same fold, kept forward from commit to commit."""

from __future__ import annotations

from typing import Any

from parley.catalog import Actor, Envelope, MessageStored, MessageUpdated, MessageView, new_event
from parley.domain.inbox import advance, fold_inbox, read_up_to
from tests.unit.samples import message_view

BOT = Actor(id="ext:lunch", kind="system", name="Lunch")


def stored(message: MessageView, at: int) -> Envelope[Any]:
    data = MessageStored(message=message, turn_mode="free", turn_number=0)
    return new_event(data, chat_id="chat-1", actor=BOT).with_sequence(at)


def updated(message: MessageView, at: int, version: int, text: str) -> Envelope[Any]:
    latest = message.model_copy(update={"version": version, "text": text})
    return new_event(
        MessageUpdated(message=latest, extension_id="lunch"), chat_id="chat-1", actor=BOT
    ).with_sequence(at)


def test_an_update_of_the_latest_message_changes_its_preview_and_an_older_version_never_returns() -> None:
    poll = message_view("Lunch?", sequence=1)
    events = [stored(poll, 1), updated(poll, 2, 3, "3 votes"), updated(poll, 3, 2, "2 votes")]

    folded = fold_inbox(events)

    assert folded.last is not None
    assert (folded.last.text, folded.last.sequence, folded.version(1)) == ("3 votes", 1, 3)


def test_an_update_alone_starts_no_preview_and_moves_no_marker() -> None:
    # a head with no line yet reads the older rows: an old poll's vote must not hide their latest message
    folded = fold_inbox([updated(message_view("Lunch?", sequence=4), 9, 2, "1 vote")])

    assert folded.last is None
    assert folded.markers == {}


def test_an_update_of_an_older_message_leaves_the_latest_preview() -> None:
    poll, later = message_view("Lunch?", sequence=1), message_view("after", sequence=2)

    folded = fold_inbox([stored(poll, 1), stored(later, 2), updated(poll, 3, 2, "1 vote")])

    assert folded.last is not None
    assert (folded.last.text, folded.last.sequence) == ("after", 2)


def test_a_whispers_update_changes_its_private_preview_for_its_audience() -> None:
    whisper = message_view("psst", sequence=1).model_copy(update={"to": ("user-bob",)})
    first = stored(whisper, 1)
    scope = ("user-alice", "user-bob")
    events = [
        first.model_copy(update={"metadata": first.metadata.model_copy(update={"audience": scope})}),
        updated(whisper, 2, 2, "psst, edited"),
    ]
    events[1] = events[1].model_copy(
        update={"metadata": events[1].metadata.model_copy(update={"audience": scope})}
    )

    folded = fold_inbox(events)

    assert folded.last is None
    assert (folded.private[1].last.text, folded.private[1].audience, folded.version(1)) == (
        "psst, edited",
        scope,
        2,
    )


def _whisper(message: MessageView, at: int) -> Envelope[Any]:
    event = stored(message.model_copy(update={"to": ("user-bob",)}), at)
    scope = ("user-alice", "user-bob")
    return event.model_copy(update={"metadata": event.metadata.model_copy(update={"audience": scope})})


def test_the_head_line_keeps_the_latest_public_preview_and_each_persons_latest_post() -> None:
    # Given a line after Alice's post 1 and Bob's post 2
    bobs = message_view("hi", sequence=2).model_copy(update={"sender_id": "user-bob", "sender_name": "Bob"})
    line = advance(None, [stored(message_view("one", sequence=1), 1), stored(bobs, 2)])
    assert line.last is not None
    assert (line.last.text, line.posted) == ("hi", {"user-alice": 1, "user-bob": 2})

    # When Alice whispers (3), then a bot posts (4), then the bot's message is updated
    bot = message_view("poll", sequence=4).model_copy(
        update={"sender_id": "ext:lunch", "sender_kind": "extension"}
    )
    line = advance(line, [_whisper(message_view("psst", sequence=3), 3), stored(bot, 4)])
    line = advance(line, [updated(bot, 5, 2, "1 vote")])

    # Then the preview is the bot's, in its latest version; Alice has read up to her whisper; bots
    # have no marker; an older version delivered again changes nothing
    assert line.last is not None
    assert (line.last.text, line.last.sequence, line.version) == ("1 vote", 4, 2)
    assert line.posted == {"user-alice": 3, "user-bob": 2}
    assert advance(line, [updated(bot, 6, 1, "poll")]) == line
    # And a member's effective marker is their explicit one or their latest post, whichever is later
    assert (read_up_to(1, line, "user-alice"), read_up_to(4, line, "user-alice")) == (3, 4)
    assert (read_up_to(0, line, "user-carol"), read_up_to(2, None, "user-carol")) == (0, 2)
