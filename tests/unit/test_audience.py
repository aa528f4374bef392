"""The audience rule (parley.domain.audience): who may see a stored event, what the others read instead,
which extensions a private event reaches, and how a whisper's addressees are checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from parley.catalog import Actor, Audience, ExtensionDisabled, MessageStored, MessageView, Role, new_event
from parley.domain import audience
from parley.domain.commands import post_ai_reply, post_message
from parley.domain.extensions import put_install
from parley.domain.inbox import LastMessage, PrivateMessage, view_for
from parley.domain.model import Chat, Outcome
from parley.errors import InvalidRequestError
from parley.services.unit_of_work import sequence
from tests.unit.chats import OWNER, at, new_chat, with_members

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Actor(id="alice", kind="user", name="Alice")


def _message(sequence: int, to: tuple[str, ...] | None = None, sender: str = "alice") -> MessageView:
    return MessageView(
        message_id=f"m{sequence}",
        chat_id="c",
        sequence=sequence,
        sender_id=sender,
        sender_name=sender.title(),
        sender_kind="human",
        text="psst",
        created_at=NOW,
        to=to,
    )


def _stored(message: MessageView, scope: Audience | None = None) -> dict[str, Any]:
    data = MessageStored(message=message, turn_mode="free", turn_number=0)
    envelope = new_event(data, chat_id="c", actor=ALICE).with_sequence(7, audience=scope)
    return envelope.to_detail()


@pytest.mark.parametrize(
    ("viewer", "role", "scope", "seen"),
    [
        ("carol", "member", "everyone", True),
        ("carol", None, "everyone", False),  # not a member: nothing
        ("carol", "member", "moderators", False),
        ("carol", "moderator", "moderators", True),
        ("carol", "owner", "moderators", True),
        ("bob", "member", ("alice", "bob"), True),
        ("carol", "member", ("alice", "bob"), False),
        ("carol", "owner", ("alice", "bob"), False),  # an owner does not read others' whispers
    ],
)
def test_visible_to(viewer: str, role: Role | None, scope: Audience, seen: bool) -> None:
    assert audience.visible_to(viewer, role, scope) is seen


def test_an_event_without_its_own_audience_takes_its_types_default() -> None:
    notice = new_event(
        ExtensionDisabled(extension_id="x", reason="r", consecutive_failures=1), chat_id="c", actor=ALICE
    )
    assert audience.audience_of(notice) == "moderators"
    assert audience.audience_of_detail(_stored(_message(1))) == "everyone"
    assert audience.audience_of_detail(_stored(_message(1, ("bob",)), ("alice", "bob"))) == ("alice", "bob")


def test_an_event_page_shows_a_content_free_marker_for_what_the_viewer_may_not_see() -> None:
    public, whisper = _stored(_message(1)), _stored(_message(2, ("bob",)), ("alice", "bob"))
    carols = audience.screen_details([public, whisper], "carol", "member")
    assert carols == [
        public,
        {"metadata": {"event_type": "Withheld", "chat_id": "c", "sequence": 7}, "data": {}},
    ]
    assert audience.screen_details([public, whisper], "bob", "member") == [public, whisper]


def test_history_keeps_a_whisper_for_its_sender_and_addressees() -> None:
    whisper = _message(1, ("bob",))
    assert [audience.message_visible_to(v, whisper) for v in ("alice", "bob", "carol")] == [True, True, False]
    assert audience.message_visible_to("carol", _message(2))


def test_an_ai_reply_to_a_whisper_for_it_goes_to_the_same_people_and_any_other_is_public() -> None:
    assert audience.reply_to(("alice", "oracle"), "oracle") == ("alice",)
    assert audience.reply_to(("alice", "bob"), "oracle") is None  # never asked by it; answers publicly
    assert audience.reply_to("everyone", "oracle") is None


@pytest.mark.parametrize(
    ("message", "reply", "kept"),
    [
        pytest.param(_message(1), None, True, id="public-message-public-reply"),
        pytest.param(_message(1), ("alice",), True, id="public-message-whispered-reply"),
        pytest.param(_message(1, ("oracle",)), None, False, id="whisper-to-ai-public-reply"),
        pytest.param(_message(1, ("alice",), "oracle"), None, False, id="ais-own-whisper-public-reply"),
        pytest.param(_message(1, ("oracle",)), ("alice",), True, id="whisper-to-ai-reply-to-sender"),
        pytest.param(_message(1, ("alice",), "oracle"), ("alice",), True, id="ais-own-whisper-same-people"),
        pytest.param(_message(1, ("oracle", "bob")), ("alice",), True, id="wider-whisper-narrower-reply"),
        pytest.param(_message(1, ("oracle",)), ("bob",), False, id="whisper-to-ai-reply-to-another"),
        pytest.param(_message(1, ("oracle",)), ("alice", "bob"), False, id="reply-wider-than-whisper"),
        pytest.param(_message(1, ("bob",)), ("alice",), False, id="whisper-between-others"),
        pytest.param(_message(1, ("bob",)), ("alice", "bob"), False, id="whisper-the-ai-never-saw"),
    ],
)
def test_an_ai_reply_reads_only_what_everyone_it_reaches_could_see(
    message: MessageView, reply: tuple[str, ...] | None, kept: bool
) -> None:
    # Given Alice whispered to the Oracle and it whispered back, a public reply reads neither
    assert audience.context_visible(message, "oracle", reply) is kept


def test_an_extension_gets_a_private_event_if_addressed_or_holding_the_capability() -> None:
    def nobody(_: str) -> bool:
        return False

    assert audience.extension_may_see("analytics", "everyone", nobody)
    assert not audience.extension_may_see("analytics", ("alice", "bob"), nobody)
    assert audience.extension_may_see("helper", ("alice", "helper"), nobody)
    assert audience.extension_may_see("audit", ("alice", "bob"), lambda e: e == "audit")
    assert not audience.extension_may_see("analytics", "moderators", nobody)


@pytest.mark.parametrize(
    ("to", "problem"),
    [
        ((), "1 to 5"),
        (("bob", "bob"), "distinct"),
        (("a", "b", "c", "d", "e", "f"), "1 to 5"),
        (("zed",), "non-members"),
        (("alice",), "besides the sender"),
    ],
)
def test_a_whisper_names_one_to_five_distinct_members(to: tuple[str, ...], problem: str) -> None:
    with pytest.raises(InvalidRequestError, match=problem) as raised:
        audience.whisper_to("alice", to, ["alice", "bob", "a", "b", "c", "d", "e", "f"])
    assert raised.value.details["field"] == "to"


def test_the_sender_is_implied_and_dropped_from_the_addressees() -> None:
    assert audience.whisper_to("alice", ["alice", "bob"], ["alice", "bob"]) == ("bob",)
    assert audience.whisper_to("alice", None, ["alice"]) is None


def _last(sequence: int, text: str) -> LastMessage:
    return LastMessage(
        message_id=f"m{sequence}",
        sender_id="alice",
        sender_name="Alice",
        sender_kind="human",
        text=text,
        truncated=False,
        sequence=sequence,
        created_at=NOW,
    )


def test_the_inbox_line_counts_and_previews_a_whisper_for_its_people_only() -> None:
    # Given public messages 1-2, a whisper to Bob at 3 and a public message at 4, nothing read yet
    whisper = PrivateMessage(audience=("alice", "bob"), last=_last(3, "psst"))
    public = _last(4, "hi")
    # Then Bob counts 4 and Carol 3; each previews the latest they may see
    bob, carol = (view_for(v, public, 4, [whisper], 0) for v in ("bob", "carol"))
    assert (bob.unread, bob.last) == (4, public)
    assert (carol.unread, carol.last) == (3, public)
    # And when the whisper is the latest, only Bob previews it
    bob, carol = (view_for(v, _last(2, "old"), 2, [whisper], 0) for v in ("bob", "carol"))
    assert (bob.unread, bob.last and bob.last.text) == (3, "psst")
    assert (carol.unread, carol.last and carol.last.text) == (2, "old")


def _ai_reply(chat: Chat, to: list[str]) -> Outcome:
    return post_ai_reply(
        chat,
        participant_id="oracle",
        request_id="r-1",
        text="answer",
        message_id="m-ai",
        now=at(10),
        time_to_first_token_ms=1,
        duration_ms=2,
        input_tokens=3,
        output_tokens=4,
        to=to,
    )


def test_a_whisper_post_stamps_every_event_and_asks_only_an_addressed_ai() -> None:
    # Given a free chat of Alice, Bob and an Oracle that always answers
    chat = with_members(new_chat("free", ais=["oracle"]), "user-bob")
    chat = chat.model_copy(
        update={
            "participants": tuple(
                p.model_copy(update={"ai": p.ai.model_copy(update={"invocation": "always"})}) if p.ai else p
                for p in chat.participants
            )
        }
    )
    # When Alice whispers to Bob, then to the Oracle
    to_bob = post_message(
        chat, sender_id=OWNER, text="hi", client_message_id=None, message_id="m1", now=at(5), to=["user-bob"]
    )
    to_oracle = post_message(
        chat, sender_id=OWNER, text="hi", client_message_id=None, message_id="m2", now=at(5), to=["oracle"]
    )
    # Then each outcome carries its audience; only the whisper to the Oracle asks it
    assert (to_bob.audience, [e.event_type for e in to_bob.events]) == (
        (OWNER, "user-bob"),
        ["MessageStored"],
    )
    assert to_oracle.audience == (OWNER, "oracle")
    assert [e.event_type for e in to_oracle.events] == ["MessageStored", "AIResponseRequested"]


def test_an_ai_reply_to_a_whisper_whose_people_all_left_is_refused_not_made_public() -> None:
    chat = with_members(new_chat("free", ais=["oracle"]), "user-bob")
    # Then a reply to Alice and a departed Carol goes to Alice alone
    assert _ai_reply(chat, [OWNER, "user-carol"]).audience == ("oracle", OWNER)
    # And a reply to departed people only is refused (the responder records it as cancelled)
    with pytest.raises(InvalidRequestError):
        _ai_reply(chat, ["user-carol"])


def test_a_whispers_events_are_routed_only_to_addressed_or_capable_extensions() -> None:
    # Given a chat with three extensions enabled: one addressed, one holding read_private, one neither
    chat = with_members(new_chat("free"), "user-bob")
    for extension_id in ("helper", "audit", "analytics"):
        chat = put_install(
            chat, user_id=None, extension_id=extension_id, version="1.0.0", enabled=True, config={}, now=at(2)
        ).chat
    whisper = post_message(
        chat, sender_id=OWNER, text="hi", client_message_id=None, message_id="m1", now=at(5), to=["user-bob"]
    )
    whisper = replace(whisper, audience=(OWNER, "user-bob", "helper"))
    public = post_message(
        chat, sender_id=OWNER, text="hi", client_message_id=None, message_id="m2", now=at(5)
    )

    # When the unit of work numbers them
    def routed(outcome: Outcome) -> list[tuple[str, ...]]:
        _, envelopes = sequence(
            outcome, ALICE, None, at(5), previous=chat, reads_private={"audit"}.__contains__
        )
        return [e.metadata.extensions for e in envelopes]

    # Then the whisper reaches the addressed and the capable one; a public post every enabled one
    assert routed(whisper) == [("audit", "helper")]
    assert routed(public) == [("analytics", "audit", "helper")]
