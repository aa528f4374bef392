"""Interactive messages as pure decisions: who may act on an extension's message, where the action
goes, and how an update numbers the message's versions."""

from __future__ import annotations

from typing import Any

import pytest

from parley.blocks import ActionRefusedError, parse_blocks
from parley.catalog import InteractionSubmitted, MessageUpdated, MessageView
from parley.domain import extensions as installs
from parley.domain import interactions
from parley.domain.model import Chat
from parley.errors import (
    ChatCompletedError,
    ForbiddenError,
    InvalidRequestError,
    MessageNotFoundError,
    RateLimitedError,
)
from tests.unit.chats import OWNER, T0, at, new_chat, with_members

POLL = {
    "type": "poll",
    "action_id": "vote",
    "question": "Lunch?",
    "options": [{"id": "pizza", "label": "Pizza"}, {"id": "sushi", "label": "Sushi"}],
}


def chat_with_the_bot(*extensions: str) -> Chat:
    chat = with_members(new_chat("free"), "user-bob", "user-carol")
    for extension_id in extensions or ("lunch",):
        chat = installs.put_install(
            chat, user_id=OWNER, extension_id=extension_id, version="1.0.0", enabled=True, config={}, now=T0
        ).chat
    return chat


def bot_message(**changes: Any) -> MessageView:
    message = MessageView(
        message_id="m-1",
        chat_id="chat-1",
        sequence=1,
        sender_id="ext:lunch",
        sender_name="Lunch",
        sender_kind="extension",
        text="Lunch?",
        created_at=T0,
        blocks=parse_blocks([POLL]),
        blocks_version=1,
    )
    return message.model_copy(update=changes)


def vote(chat: Chat, message: MessageView | None, who: str = "user-bob", **values: Any) -> Any:
    return interactions.submit(
        chat,
        message,
        participant_id=who,
        action_id="vote",
        values=values or {"option": "pizza"},
        client_action_id="k-1",
        submission_id="s-1",
        now=at(5),
    )


def test_a_vote_is_for_the_voter_and_routed_to_the_owning_extension_alone() -> None:
    chat = chat_with_the_bot("lunch", "spy")
    outcome = vote(chat, bot_message())
    (event,) = outcome.events
    assert isinstance(event, InteractionSubmitted)
    assert (event.extension_id, event.values, event.message_version) == ("lunch", {"option": "pizza"}, 1)
    assert outcome.audience == ("user-bob",)
    assert installs.routed_to(chat, event) == ("lunch",)
    # And not even to its owner once the owner is off the chat
    off = chat_with_the_bot("spy")
    assert installs.routed_to(off, event) == ()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (None, MessageNotFoundError),
        (bot_message(sender_id="user-alice", sender_kind="human"), MessageNotFoundError),
        (bot_message(blocks=None, blocks_version=None), MessageNotFoundError),
        (bot_message(to=("user-carol",)), ForbiddenError),
    ],
)
def test_only_an_extensions_message_with_blocks_that_the_member_may_see_takes_actions(
    message: MessageView | None, error: type[Exception]
) -> None:
    # a whisper from the bot to Carol: Bob, a member, may not see it, so may not act on it
    with pytest.raises(error):
        vote(chat_with_the_bot(), message)


def test_a_whispered_message_takes_actions_from_its_people() -> None:
    assert vote(chat_with_the_bot(), bot_message(to=("user-carol",)), who="user-carol").events


def test_no_action_in_a_completed_chat_or_for_a_disabled_owner_or_of_an_unknown_id() -> None:
    completed = chat_with_the_bot().model_copy(update={"status": "completed"})
    with pytest.raises(ChatCompletedError):
        vote(completed, bot_message())
    with pytest.raises(InvalidRequestError):
        vote(chat_with_the_bot("spy"), bot_message())
    shadowed = installs.put_install(
        chat_with_the_bot(),
        user_id=OWNER,
        extension_id="lunch",
        version="1.0.0",
        enabled=True,
        config={},
        now=T0,
        shadow=True,
    ).chat
    with pytest.raises(InvalidRequestError, match="not enabled"):  # its update would only be recorded
        vote(shadowed, bot_message())
    with pytest.raises(ActionRefusedError):
        interactions.submit(
            chat_with_the_bot(),
            bot_message(),
            participant_id="user-bob",
            action_id="nope",
            values={},
            client_action_id="k",
            submission_id="s",
            now=at(1),
        )


def test_an_update_numbers_the_next_version_keeps_the_audience_and_only_its_owner_may_make_it() -> None:
    chat, message = chat_with_the_bot(), bot_message(version=3, to=("user-carol",))
    outcome = interactions.update_message(
        chat, message, extension_id="lunch", text="closed", blocks=None, now=at(9)
    )
    (event,) = outcome.events
    assert isinstance(event, MessageUpdated)
    assert outcome.updated == event.message
    assert (event.message.version, event.message.edited_at, event.message.text) == (4, at(9), "closed")
    assert event.message.blocks == message.blocks  # None keeps them
    assert outcome.audience == ("ext:lunch", "user-carol")
    removed = interactions.update_message(
        chat, message, extension_id="lunch", text=None, blocks=(), now=at(9)
    )
    assert removed.updated is not None
    assert (removed.updated.blocks, removed.updated.blocks_version, removed.updated.text) == (
        None,
        None,
        "Lunch?",
    )
    with pytest.raises(ForbiddenError, match="not_owner"):
        interactions.update_message(chat, message, extension_id="spy", text="mine", blocks=None, now=at(9))
    with pytest.raises(MessageNotFoundError):
        interactions.update_message(chat, None, extension_id="lunch", text="x", blocks=None, now=at(9))


def test_actions_count_toward_the_members_rate_limit_like_posts() -> None:
    # Given a chat that takes 2 posts per window from each member
    chat = chat_with_the_bot()
    chat = chat.model_copy(update={"settings": chat.settings.model_copy(update={"rate_limit_messages": 2})})
    # When Bob acts twice, Then both count; the third is refused until the window moves on
    for _ in range(2):
        chat = vote(chat, bot_message()).chat
    with pytest.raises(RateLimitedError):
        vote(chat, bot_message())
    # And Carol's budget is her own
    assert vote(chat, bot_message(), who="user-carol").events


def test_no_update_of_a_message_in_a_completed_chat() -> None:
    completed = chat_with_the_bot().model_copy(update={"status": "completed"})
    with pytest.raises(ChatCompletedError):
        interactions.update_message(
            completed, bot_message(), extension_id="lunch", text="closed", blocks=None, now=at(9)
        )
