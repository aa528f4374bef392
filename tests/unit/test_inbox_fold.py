"""The inbox fold: a message's update moves its preview forward by version, never an older message's."""

from __future__ import annotations

from typing import Any

from parley.catalog import Actor, Envelope, MessageStored, MessageUpdated, MessageView, new_event
from parley.domain.inbox import fold_inbox
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


def test_an_update_alone_is_its_messages_preview_at_its_place_and_moves_no_marker() -> None:
    folded = fold_inbox([updated(message_view("Lunch?", sequence=4), 9, 2, "1 vote")])

    assert folded.last is not None
    assert (folded.last.text, folded.last.sequence, folded.version(4)) == ("1 vote", 4, 2)
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
