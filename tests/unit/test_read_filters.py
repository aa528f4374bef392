"""Read filters without AWS: the verdicts' folding and application, their cache, the fallback, and the
shipped spoilers filter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from parley.adapters.memory import InMemoryVerdictCache
from parley.blocks import Poll, PollOption
from parley.catalog import SYSTEM, MessageStored, MessageUpdated, MessageView, new_event
from parley.domain.extensions import put_install
from parley.domain.model import Chat, ChatSettings
from parley.domain.read_filters import MessageVerdicts, filter_key
from parley.errors import HookTimeoutError, StoreError
from parley.extensions.builtin import spoilers
from parley.extensions.hooks import HookRunner, ReadFilterAnswer, ReadFilterRequest, ReadMessage, ReadVerdict
from parley.extensions.manifest import ExtensionDocument, Hooks, Manifest
from parley.extensions.sdk import Extension
from parley.services.read_filters import VERDICT_TTL, ReadFilters
from tests.unit.chats import T0, new_chat, with_members

BOB, CAROL = "user-bob", "user-carol"


def message(sequence: int, text: str, sender: str = "user-alice") -> MessageView:
    return MessageView(
        message_id=f"m{sequence}",
        chat_id="chat-1",
        sequence=sequence,
        sender_id=sender,
        sender_name=sender,
        sender_kind="human",
        text=text,
        created_at=T0,
    )


class CallingInvoker:
    """Runs the extensions' hooks in this thread, counting calls; ``late`` ones time out."""

    def __init__(self, *extensions: Extension[Any], late: frozenset[str] = frozenset()) -> None:
        self.extensions = {e.id: e for e in extensions}
        self.late = late
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, document: ExtensionDocument, payload: dict[str, Any], timeout_seconds: float) -> Any:
        self.calls.append((document.id, payload["request"]))
        if document.id in self.late:
            raise HookTimeoutError("late")
        return self.extensions[document.id].run_hook(payload)


def filtering(extension_id: str, rule: Callable[[ReadFilterRequest], ReadFilterAnswer]) -> Extension[Any]:
    ext: Extension[Any] = Extension(
        Manifest(
            id=extension_id,
            version="1.0.0",
            name=extension_id,
            description="d",
            capabilities=frozenset({"messages:filter"}),
            hooks=Hooks(on_read=True),
        )
    )

    @ext.on_read
    def _rule(request: ReadFilterRequest, config: BaseModel) -> ReadFilterAnswer:
        return rule(request)

    return ext


def chat_with(*installs: tuple[str, dict[str, Any]], fallback: str = "allow") -> Chat:
    chat = with_members(new_chat("free", settings=ChatSettings(hook_fallback=fallback)), BOB, CAROL)
    for extension_id, config in installs:
        chat = put_install(
            chat,
            user_id=None,
            extension_id=extension_id,
            version="1.0.0",
            enabled=True,
            config=config,
            now=T0,
        ).chat
    return chat


def service(
    *extensions: Extension[Any], late: frozenset[str] = frozenset()
) -> tuple[ReadFilters, CallingInvoker, InMemoryVerdictCache]:
    invoker = CallingInvoker(*extensions, late=late)
    cache = InMemoryVerdictCache()
    registry = {e.id: e.manifest.document() for e in extensions}
    filters = ReadFilters(cache, lambda: registry, HookRunner(invoker, budget_ms=100), clock=lambda: T0)
    return filters, invoker, cache


def spoilers_message() -> ReadMessage:
    return ReadMessage(
        message_id="m1", sequence=1, sender_id="user-alice", sender_name="A", sender_kind="human", text="x"
    )


# -- verdicts as data ------------------------------------------------------------------------------


def test_verdicts_hide_rewrite_or_keep_per_viewer() -> None:
    verdicts = MessageVerdicts.combine(
        "k", [BOB, CAROL, "user-dan"], {BOB: ("hide", None), CAROL: ("rewrite", "masked")}
    )
    m = message(1, "secret")
    assert verdicts.apply(m, BOB).model_dump(include={"text", "filtered"}) == {
        "text": "",
        "filtered": "hidden",
    }
    assert verdicts.apply(m, CAROL).model_dump(include={"text", "filtered"}) == {
        "text": "masked",
        "filtered": "rewritten",
    }
    assert verdicts.apply(m, "user-dan") is m
    assert "filtered" not in m.model_dump()  # stored events and unfiltered reads do not change shape


def test_the_filter_key_moves_with_a_filters_config() -> None:
    one = chat_with(("spoilers", {"hide_for": [BOB]}))
    two = chat_with(("spoilers", {"hide_for": [BOB, CAROL]}))
    assert filter_key(one, [("spoilers", "1.0.0")]) != filter_key(two, [("spoilers", "1.0.0")])
    assert filter_key(one, [("spoilers", "1.0.0")]) != filter_key(one, [("spoilers", "1.0.1")])


def test_an_answer_naming_what_was_not_asked_is_refused() -> None:
    request = ReadFilterRequest(chat_id="c", messages=[], viewers=[BOB])
    asked = ReadFilterRequest(chat_id="c", messages=[spoilers_message()], viewers=[BOB])
    with pytest.raises(ValueError, match="needs `text`"):
        ReadFilterAnswer(verdicts=[ReadVerdict(message_id="m1", viewers=[BOB], action="rewrite")]).check(
            asked
        )
    with pytest.raises(ValueError, match="did not"):
        ReadFilterAnswer(verdicts=[ReadVerdict(message_id="m9", viewers=[BOB], action="hide")]).check(request)
    with pytest.raises(ValidationError):
        ReadVerdict(message_id="m1", viewers=[], action="hide")


# -- the service: cache, cost, fallback ----------------------------------------------------------


def test_a_chat_without_a_read_filter_costs_nothing() -> None:
    filters, invoker, cache = service(spoilers.extension)
    verdicts = filters.verdicts(chat_with(), [message(1, "||x||")], [BOB])
    assert verdicts.message(message(1, "||x||"), BOB).text == "||x||"
    assert (invoker.calls, cache.reads) == ([], 0)


def test_a_hook_runner_factory_is_built_only_when_a_filter_is_asked() -> None:
    # Given read filters over a factory of the hook runner (as parley.root hands it)
    invoker = CallingInvoker(spoilers.extension)
    registry = {spoilers.extension.id: spoilers.extension.manifest.document()}
    built: list[HookRunner] = []

    def runner() -> HookRunner:
        built.append(HookRunner(invoker, budget_ms=100))
        return built[-1]

    filters = ReadFilters(InMemoryVerdictCache(), lambda: registry, runner)

    # When a chat without a read filter is read, Then nothing is built
    filters.messages_for(chat_with(), BOB, [message(1, "||x||")])
    assert built == []

    # When a chat with one is read, Then the runner is built and asked
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    assert [m.text for m in filters.messages_for(chat, BOB, [message(1, "a ||b||")])] == ["a [spoiler]"]
    assert len(built) == 1
    assert len(invoker.calls) == 1


def test_verdicts_are_ruled_once_for_every_member_then_read_from_the_cache() -> None:
    filters, invoker, cache = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    page = [message(1, "a ||b|| c"), message(2, "plain")]

    first = filters.messages_for(chat, BOB, page)
    again = filters.messages_for(chat, CAROL, page)

    assert [m.text for m in first] == ["a [spoiler] c", "plain"]
    assert [m.text for m in again] == ["a ||b|| c", "plain"]
    [(_, request)] = invoker.calls
    assert sorted(request["viewers"]) == sorted(["user-alice", BOB, CAROL])
    assert set(cache.rows) == {("chat-1", 1, 1), ("chat-1", 2, 1)}


def test_cached_verdicts_expire_so_they_only_bound_storage() -> None:
    # Given a ruling at T0
    filters, invoker, cache = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    filters.messages_for(chat, BOB, [message(1, "||x||"), message(2, "plain")])
    # Then each message's verdicts expire VERDICT_TTL later, the figure README gives
    assert set(cache.expires.values()) == {T0 + VERDICT_TTL}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"Each item expires {VERDICT_TTL // timedelta(days=1)} days after its ruling" in readme
    # And once expired (gone), the next read rules again and shows the same
    cache.rows.clear()
    [seen, _] = filters.messages_for(chat, BOB, [message(1, "||x||"), message(2, "plain")])
    assert (seen.text, len(invoker.calls)) == ("[spoiler]", 2)


def test_a_viewer_the_cache_does_not_cover_is_ruled_again() -> None:
    filters, invoker, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB, "user-dan"]}))
    filters.messages_for(chat, BOB, [message(1, "||x||")])

    # Dan joined after the ruling
    [seen] = filters.messages_for(with_members(chat, "user-dan", start=9), "user-dan", [message(1, "||x||")])

    assert seen.text == "[spoiler]"
    assert len(invoker.calls) == 2


def test_a_page_is_ruled_in_calls_of_at_most_fifty_messages() -> None:
    filters, invoker, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    filters.messages_for(chat, BOB, [message(i, f"m{i}") for i in range(1, 121)])
    assert [len(r["messages"]) for _, r in invoker.calls] == [50, 50, 20]


@pytest.mark.parametrize(("fallback", "expected"), [("allow", ("||x||", None)), ("reject", ("", "hidden"))])
def test_a_late_filter_gets_the_chats_fallback_and_nothing_is_cached(
    fallback: str, expected: tuple[str, str | None]
) -> None:
    filters, invoker, cache = service(spoilers.extension, late=frozenset({"spoilers"}))
    chat = chat_with(("spoilers", {"hide_for": [BOB]}), fallback=fallback)

    for _ in range(2):
        [seen] = filters.messages_for(chat, CAROL, [message(1, "||x||")])
        assert (seen.text, seen.filtered) == expected

    assert len(invoker.calls) == 2
    assert cache.rows == {}


def test_nonsense_from_a_filter_is_an_error_with_the_fallback() -> None:
    liar = filtering(
        "liar",
        lambda r: ReadFilterAnswer(verdicts=[ReadVerdict(message_id="nope", viewers=[BOB], action="hide")]),
    )
    filters, _, cache = service(liar)
    [seen] = filters.messages_for(chat_with(("liar", {}), fallback="reject"), BOB, [message(1, "hi")])
    assert seen.filtered == "hidden"
    assert cache.rows == {}


def test_two_filters_fold_hide_over_rewrite() -> None:
    def everyone(action: str) -> Callable[[ReadFilterRequest], ReadFilterAnswer]:
        return lambda r: ReadFilterAnswer(
            verdicts=[
                ReadVerdict(message_id=m.message_id, viewers=[BOB], action=action, text="x")
                for m in r.messages
            ]
        )

    filters, _, _ = service(
        filtering("a_rewrite", everyone("rewrite")), filtering("b_hide", everyone("hide"))
    )
    chat = chat_with(("a_rewrite", {}), ("b_hide", {}))
    [seen] = filters.messages_for(chat, BOB, [message(1, "hi")])
    assert seen.filtered == "hidden"


def test_of_two_rewrites_the_first_filters_by_id_stands() -> None:
    def rewrite_to(text: str) -> Callable[[ReadFilterRequest], ReadFilterAnswer]:
        return lambda r: ReadFilterAnswer(
            verdicts=[
                ReadVerdict(message_id=m.message_id, viewers=[BOB], action="rewrite", text=text)
                for m in r.messages
            ]
        )

    filters, _, _ = service(filtering("b_second", rewrite_to("B")), filtering("a_first", rewrite_to("A")))
    chat = chat_with(("b_second", {}), ("a_first", {}))
    [seen] = filters.messages_for(chat, BOB, [message(1, "hi")])
    assert seen.text == "A"


def test_event_log_rows_and_pushed_envelopes_are_filtered_alike() -> None:
    filters, _, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    stored = new_event(
        MessageStored(message=message(1, "||x|| y"), turn_mode="free", turn_number=0),
        chat_id="chat-1",
        actor=SYSTEM,
    ).with_sequence(7)
    detail = stored.model_dump(mode="json")

    [row] = filters.details_for(chat, BOB, [detail])
    pushed = filters.verdicts(chat, [stored.data.message], [BOB]).envelope(stored, BOB)

    assert row["data"]["message"]["text"] == pushed.data.message.text == "[spoiler] y"
    assert filters.details_for(chat, CAROL, [detail]) == [detail]


def updated(sequence: int, text: str, version: int, **fields: Any) -> MessageView:
    return message(sequence, text).model_copy(update={"version": version, "edited_at": T0, **fields})


def test_an_extensions_update_is_filtered_on_every_read_path() -> None:
    # Given a message updated by its extension to a text with a spoiler
    filters, _, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    event = new_event(
        MessageUpdated(message=updated(1, "now ||x||", 2), extension_id="poll"),
        chat_id="chat-1",
        actor=SYSTEM,
    ).with_sequence(9)

    # When Bob gets it pushed, or reads its event-log row (GET events, the subscribe replay)
    pushed = filters.verdicts(chat, [event.data.message], [BOB]).envelope(event, BOB)
    [row] = filters.details_for(chat, BOB, [event.model_dump(mode="json")])

    # Then he reads the mask, as he would the message as posted
    assert pushed.data.message.text == row["data"]["message"]["text"] == "now [spoiler]"
    assert row["data"]["message"]["filtered"] == "rewritten"


def test_a_verdict_on_one_version_never_answers_for_another() -> None:
    filters, invoker, cache = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    assert [m.text for m in filters.messages_for(chat, BOB, [message(1, "plain")])] == ["plain"]

    # the extension updated it to a spoiler: v1's "keep" (cached) must not show v2 whole
    [seen] = filters.messages_for(chat, BOB, [updated(1, "||x||", 2)])
    assert (seen.text, seen.filtered) == ("[spoiler]", "rewritten")
    assert len(invoker.calls) == 2
    assert {(s, v) for _, s, v in cache.rows} == {(1, 1), (1, 2)}


def test_a_v1_verdict_saved_after_the_update_is_not_read_for_v2() -> None:
    # Given a reader that ruled on v1 ("keep") and saved after the extension's update committed
    filters, invoker, cache = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    late = filters.verdicts(chat, [message(1, "plain")], [BOB])
    cache.rows.clear()
    for (sequence, _), verdicts in late.by_version.items():
        cache.save_read_verdicts("chat-1", sequence, verdicts, expires_at=T0 + VERDICT_TTL)

    # When v2 is read, Then it is ruled on, not shown by v1's verdict
    [seen] = filters.messages_for(chat, BOB, [updated(1, "||x||", 2)])
    assert seen.text == "[spoiler]"
    assert len(invoker.calls) == 2


def test_a_page_with_both_versions_of_a_message_rules_each() -> None:
    # GET events may hold a message's MessageStored and its MessageUpdated rows on one page
    filters, invoker, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    rows = [
        new_event(event, chat_id="chat-1", actor=SYSTEM).with_sequence(n).model_dump(mode="json")
        for n, event in [
            (1, MessageStored(message=message(1, "plain"), turn_mode="free", turn_number=0)),
            (2, MessageUpdated(message=updated(1, "a ||b||", 2), extension_id="poll")),
        ]
    ]
    seen = [r["data"]["message"]["text"] for r in filters.details_for(chat, BOB, rows)]
    assert seen == ["plain", "a [spoiler]"]
    assert all(len(request["messages"]) == 1 for _, request in invoker.calls)


def poll_message(question: str) -> MessageView:
    poll = Poll(
        action_id="vote",
        question=question,
        options=(PollOption(id="y", label="Yes"), PollOption(id="n", label="No")),
    )
    return message(1, "A poll").model_copy(update={"blocks": (poll,), "blocks_version": 1})


@pytest.mark.parametrize(
    ("config", "text", "filtered"),
    [
        ({"hide_for": [BOB]}, "A poll\n[spoiler] killed him?\nYes\nNo", "rewritten"),
        ({"hide_for": [BOB], "hide_whole_message": True}, "", "hidden"),
    ],
)
def test_a_filter_rules_on_the_blocks_and_a_filtered_message_has_none(
    config: dict[str, Any], text: str, filtered: str
) -> None:
    filters, invoker, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", config))

    [seen] = filters.messages_for(chat, BOB, [poll_message("||Snape|| killed him?")])

    [(_, request)] = invoker.calls
    assert request["messages"][0]["text"] == "A poll\n||Snape|| killed him?\nYes\nNo"
    assert (seen.text, seen.filtered, seen.blocks, seen.blocks_version) == (text, filtered, None, None)
    assert "blocks" not in seen.model_dump(mode="json")
    # a viewer the filter keeps it for gets the blocks
    [whole] = filters.messages_for(chat, CAROL, [poll_message("||Snape|| killed him?")])
    assert whole.blocks is not None


# -- declaring a filter ------------------------------------------------------------------------------


def test_a_read_filter_needs_its_capability_and_its_hook_flag() -> None:
    with pytest.raises(ValidationError, match="messages:filter"):
        Manifest(id="ff", version="1.0.0", name="F", description="d", hooks=Hooks(on_read=True))
    plain: Extension[Any] = Extension(Manifest(id="ff", version="1.0.0", name="F", description="d"))
    with pytest.raises(ValueError, match=r"hooks\.on_read"):
        plain.on_read(lambda request, config: ReadFilterAnswer())


# -- the spoilers extension ------------------------------------------------------------------------


def ask_spoilers(text: str, sender: str = "user-alice", **config: Any) -> dict[str, Any]:
    request = ReadFilterRequest(
        chat_id="c",
        messages=[
            message(1, text, sender).model_dump(
                include={"message_id", "sequence", "sender_id", "sender_name", "sender_kind", "text"}
            )
        ],
        viewers=["user-alice", BOB, CAROL],
        config=config,
    )
    answer: dict[str, Any] = spoilers.extension.run_hook(
        {"parley_hook": "on_read", "request": request.model_dump()}
    )
    return answer


def test_spoilers_masks_every_marked_part_for_those_who_opted_in_but_its_sender() -> None:
    answer = ask_spoilers("a ||b|| c ||d||", sender=BOB, hide_for=[BOB, CAROL])
    assert answer == {
        "verdicts": [
            {"message_id": "m1", "viewers": [CAROL], "action": "rewrite", "text": "a [spoiler] c [spoiler]"}
        ]
    }


def test_spoilers_can_hide_the_whole_message_and_leaves_plain_text_alone() -> None:
    hidden = ask_spoilers("||x||", hide_for=[BOB], hide_whole_message=True)
    assert hidden["verdicts"] == [{"message_id": "m1", "viewers": [BOB], "action": "hide", "text": None}]
    assert ask_spoilers("no | marks || here", hide_for=[BOB]) == {"verdicts": []}
    assert ask_spoilers("||x||") == {"verdicts": []}


class UnwritableCache(InMemoryVerdictCache):
    def save_read_verdicts(
        self, chat_id: str, sequence: int, verdicts: MessageVerdicts, *, expires_at: datetime
    ) -> None:
        raise StoreError("throttled")


def test_a_cache_write_that_fails_leaves_the_read_as_ruled() -> None:
    invoker = CallingInvoker(spoilers.extension)
    registry = {"spoilers": spoilers.extension.manifest.document()}
    filters = ReadFilters(UnwritableCache(), lambda: registry, HookRunner(invoker, budget_ms=100))
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    [seen] = filters.messages_for(chat, BOB, [message(1, "||x||")])
    assert seen.text == "[spoiler]"


def test_a_whisper_reaches_a_read_filter_only_as_it_reaches_any_extension() -> None:
    """A filter neither addressed nor holding messages:read_private is never asked about a whisper
    (its text would leak to it); the whisper is read as stored."""
    filters, invoker, _ = service(spoilers.extension)
    chat = chat_with(("spoilers", {"hide_for": [BOB]}))
    whisper = message(1, "a ||b|| c").model_copy(update={"to": (BOB,)})

    seen = filters.messages_for(chat, BOB, [whisper, message(2, "x ||y||")])

    assert [m.text for m in seen] == ["a ||b|| c", "x [spoiler]"]
    [(_, request)] = invoker.calls
    assert [m["message_id"] for m in request["messages"]] == ["m2"]
