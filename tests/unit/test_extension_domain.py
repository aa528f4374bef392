"""Extension installs, circuit breaker, bot messages and the sender policy as pure decisions."""

from __future__ import annotations

from typing import Any

import pytest

from parley.catalog import (
    MAX_ROUTED_EXTENSIONS,
    SYSTEM,
    Actor,
    AIContextContributed,
    ExtensionEvent,
    ExtensionFailed,
    ExtensionMessageRequested,
    ParticipantView,
    UserJoined,
    derive,
    new_event,
)
from parley.domain import extensions as ext
from parley.domain.model import MAX_INSTALLS, Chat, ChatSettings, Outcome
from parley.errors import ChatCompletedError, ForbiddenError, InvalidRequestError, RateLimitedError
from parley.extensions.manifest import LIFECYCLE_EVENTS, ExtensionDocument
from parley.extensions.policy import refusal
from tests.unit.chats import OWNER, at, new_chat, with_members


def installed(chat: Chat, extension_id: str = "welcome", *, enabled: bool = True, **config: Any) -> Chat:
    return ext.put_install(
        chat,
        user_id=OWNER,
        extension_id=extension_id,
        version="1.0.0",
        enabled=enabled,
        config=config,
        now=at(5),
    ).chat


def types(outcome: Outcome) -> list[str]:
    return [e.event_type for e in outcome.events]


# -- installs --------------------------------------------------------------------------------------


def test_a_first_install_announces_installed_then_activated() -> None:
    outcome = ext.put_install(
        new_chat("free"),
        user_id=OWNER,
        extension_id="welcome",
        version="1.0.0",
        enabled=True,
        config={},
        now=at(5),
    )
    assert types(outcome) == ["ExtensionInstalled", "ExtensionActivated"]
    assert outcome.chat.extensions["welcome"].enabled


def test_a_disabled_install_announces_only_installed() -> None:
    outcome = ext.put_install(
        new_chat("free"),
        user_id=OWNER,
        extension_id="welcome",
        version="1.0.0",
        enabled=False,
        config={},
        now=at(5),
    )
    assert types(outcome) == ["ExtensionInstalled"]
    assert outcome.chat.extensions["welcome"].disabled_reason == "disabled"


@pytest.mark.parametrize(
    ("enabled", "config", "expected"),
    [
        (True, {}, []),
        (True, {"template": "Hi"}, ["ExtensionConfigChanged"]),
        (False, {}, ["ExtensionDeactivated"]),
        (False, {"template": "Hi"}, ["ExtensionConfigChanged", "ExtensionDeactivated"]),
    ],
)
def test_a_second_put_announces_only_what_changed(
    enabled: bool, config: dict[str, Any], expected: list[str]
) -> None:
    chat = installed(new_chat("free"))
    outcome = ext.put_install(
        chat,
        user_id=OWNER,
        extension_id="welcome",
        version="1.0.0",
        enabled=enabled,
        config=config,
        now=at(9),
    )
    assert types(outcome) == expected
    if not expected:
        assert outcome.chat == chat


def test_members_may_not_manage_extensions() -> None:
    chat = with_members(new_chat("free"), "user-bob")
    with pytest.raises(ForbiddenError):
        ext.put_install(
            chat, user_id="user-bob", extension_id="welcome", version="1", enabled=True, config={}, now=at(5)
        )
    with pytest.raises(ForbiddenError):
        ext.uninstall(installed(chat), user_id="user-bob", extension_id="welcome")


def test_a_completed_chat_takes_no_installs() -> None:
    chat = new_chat("free").model_copy(update={"status": "completed"})
    with pytest.raises(ChatCompletedError):
        installed(chat)


def test_uninstall_is_harmless_twice() -> None:
    chat = installed(new_chat("free"))
    first = ext.uninstall(chat, user_id=OWNER, extension_id="welcome")
    second = ext.uninstall(first.chat, user_id=OWNER, extension_id="welcome")
    assert types(first) == ["ExtensionUninstalled"]
    assert "welcome" not in first.chat.extensions
    assert second.events == ()


def test_an_install_remembers_where_the_log_stood_so_earlier_events_are_not_for_it() -> None:
    chat = new_chat("free").model_copy(update={"last_event_sequence": 7})
    assert installed(chat).extensions["welcome"].active_since == 7


# -- circuit breaker -------------------------------------------------------------------------------


def test_the_circuit_opens_at_the_threshold_and_only_then() -> None:
    chat = installed(new_chat("free"))
    for n in range(1, 3):
        outcome = ext.record_failure(chat, extension_id="welcome", threshold=3, error="boom")
        chat = outcome.chat
        assert outcome.events == ()
        assert chat.extensions["welcome"].consecutive_failures == n
    opened = ext.record_failure(chat, extension_id="welcome", threshold=3, error="KeyError: 'x'")
    assert types(opened) == ["ExtensionDisabled"]
    install = opened.chat.extensions["welcome"]
    assert (install.enabled, install.disabled_reason, install.consecutive_failures) == (
        False,
        "circuit_open",
        3,
    )
    # a late report after the circuit opened changes nothing
    assert ext.record_failure(opened.chat, extension_id="welcome", threshold=3, error="x").chat == opened.chat


def test_re_enabling_closes_the_circuit_and_resets_the_count() -> None:
    chat = installed(new_chat("free"))
    chat = ext.record_failure(chat, extension_id="welcome", threshold=1, error="x").chat
    outcome = ext.put_install(
        chat, user_id=OWNER, extension_id="welcome", version="1.0.0", enabled=True, config={}, now=at(9)
    )
    assert types(outcome) == ["ExtensionActivated"]
    install = outcome.chat.extensions["welcome"]
    assert (install.enabled, install.consecutive_failures, install.disabled_reason) == (True, 0, None)


def test_a_recovery_resets_the_count_without_an_event() -> None:
    chat = ext.record_failure(
        installed(new_chat("free")), extension_id="welcome", threshold=5, error="x"
    ).chat
    outcome = ext.record_recovery(chat, extension_id="welcome")
    assert outcome.chat.extensions["welcome"].consecutive_failures == 0
    assert outcome.events == ()
    assert ext.record_recovery(outcome.chat, extension_id="welcome").chat == outcome.chat


# -- bot messages and AI context -------------------------------------------------------------------


def test_a_bot_message_takes_the_next_sequence_and_leaves_the_turn_alone() -> None:
    chat = installed(new_chat("round_robin"))
    outcome = ext.post_extension_message(
        chat, extension_id="welcome", name="Welcome bot", text="Hi", request_id="r", message_id="m", now=at(9)
    )
    assert outcome.message is not None
    assert (outcome.message.sequence, outcome.message.sender_kind, outcome.message.sender_id) == (
        1,
        "extension",
        "ext:welcome",
    )
    assert outcome.chat.turn == chat.turn
    assert outcome.chat.last_human_sequence == chat.last_human_sequence


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_a_bot_message_obeys_the_chats_text_rules(text: str) -> None:
    with pytest.raises(InvalidRequestError):
        ext.post_extension_message(
            installed(new_chat("free")),
            extension_id="welcome",
            name="W",
            text=text,
            request_id="r",
            message_id="m",
            now=at(9),
        )


def test_ai_context_is_bounded_and_recorded_once() -> None:
    chat = installed(new_chat("free"), "facts")
    outcome = ext.set_ai_context(chat, extension_id="facts", text="x" * 5000)
    assert len(outcome.chat.extensions["facts"].ai_context) == 2000
    assert types(outcome) == ["AIContextContributed"]
    assert ext.set_ai_context(outcome.chat, extension_id="facts", text="x" * 2000).events == ()


# -- the sender policy -----------------------------------------------------------------------------

WELCOME_DOC = ExtensionDocument(
    id="welcome", version="1.0.0", name="Welcome", description="d", capabilities=("messages:write",)
)
EMITTER_DOC = ExtensionDocument(
    id="sentiment",
    version="1.0.0",
    name="S",
    description="d",
    capabilities=("events:emit",),
    emits=("sentiment.scored",),
)


def envelope_from(actor_id: str, data: Any) -> Any:
    return new_event(data, chat_id="chat-1", actor=Actor(id=actor_id, kind="extension", name=actor_id))


def test_the_policy_allows_an_enabled_extension_with_the_capability() -> None:
    chat = installed(new_chat("free"))
    request = envelope_from(
        "welcome", ExtensionMessageRequested(extension_id="welcome", request_id="r", text="hi")
    )
    assert refusal(request, "parley.ext.welcome", WELCOME_DOC, chat) is None


@pytest.mark.parametrize(
    ("source", "actor", "data", "document", "enabled", "reason"),
    [
        ("parley.core", "welcome", None, WELCOME_DOC, True, "source_mismatch"),
        ("parley.ext.other", "welcome", None, WELCOME_DOC, True, "source_mismatch"),
        ("parley.ext.welcome", "welcome", "wrong-id", WELCOME_DOC, True, "source_mismatch"),
        ("parley.ext.welcome", "welcome", None, None, True, "not_registered"),
        (
            "parley.ext.welcome",
            "welcome",
            None,
            EMITTER_DOC.model_copy(update={"id": "welcome"}),
            True,
            "missing_capability",
        ),
        ("parley.ext.welcome", "welcome", None, WELCOME_DOC, False, "not_enabled"),
    ],
)
def test_the_policy_refuses(
    source: str, actor: str, data: str | None, document: ExtensionDocument | None, enabled: bool, reason: str
) -> None:
    chat = installed(new_chat("free"), enabled=enabled)
    request = envelope_from(
        actor, ExtensionMessageRequested(extension_id=data or actor, request_id="r", text="hi")
    )
    found = refusal(request, source, document, chat)
    assert found is not None
    assert found.startswith(reason)


def test_the_policy_refuses_an_undeclared_extension_event_and_a_core_actor() -> None:
    chat = installed(new_chat("free"), "sentiment")
    undeclared = envelope_from("sentiment", ExtensionEvent(extension_id="sentiment", name="sentiment.other"))
    assert (refusal(undeclared, "parley.ext.sentiment", EMITTER_DOC, chat) or "").startswith(
        "undeclared_event"
    )
    core = new_event(
        ExtensionEvent(extension_id="sentiment", name="sentiment.scored"), chat_id="chat-1", actor=SYSTEM
    )
    assert (refusal(core, "parley.ext.sentiment", EMITTER_DOC, chat) or "").startswith("source_mismatch")


def test_health_reports_count_while_the_extension_is_off() -> None:
    chat = installed(new_chat("free"), enabled=False)
    report = envelope_from(
        "welcome",
        ExtensionFailed(extension_id="welcome", failed_event_id="e", error="x", consecutive_failures=1),
    )
    assert refusal(report, "parley.ext.welcome", WELCOME_DOC, chat) is None


def test_the_policy_refuses_core_event_types_and_capabilities_an_extension_lacks() -> None:
    chat = installed(new_chat("free"))
    context = envelope_from("welcome", AIContextContributed(extension_id="welcome", text="x"))
    assert (refusal(context, "parley.ext.welcome", WELCOME_DOC, chat) or "").startswith("missing_capability")
    joined = envelope_from(
        "welcome",
        UserJoined(
            participant=ParticipantView(id="u", name="U", kind="human", role="member"), turn_mode="free"
        ),
    )
    assert (refusal(joined, "parley.ext.welcome", WELCOME_DOC, chat) or "").startswith(
        "event_type_not_allowed"
    )


# -- routing: which extensions an event is for -----------------------------------------------------

JOINED = UserJoined(
    participant=ParticipantView(id="u-2", name="Bob", kind="human", role="member"), turn_mode="free"
)


def test_an_event_is_routed_to_the_enabled_extensions_only() -> None:
    chat = installed(installed(new_chat("free"), "welcome"), "sentiment", enabled=False)
    assert ext.routed_to(chat, JOINED) == ("welcome",)
    assert ext.routed_to(new_chat("free"), JOINED) == ()


def test_a_life_cycle_event_is_routed_to_its_subject_even_off_or_uninstalled() -> None:
    chat = installed(new_chat("free"), "welcome")
    off = ext.put_install(
        chat, user_id=OWNER, extension_id="welcome", version="1.0.0", enabled=False, config={}, now=at(6)
    )
    gone = ext.uninstall(chat, user_id=OWNER, extension_id="welcome")
    assert [ext.routed_to(off.chat, e) for e in off.events] == [("welcome",)]
    assert [ext.routed_to(gone.chat, e) for e in gone.events] == [("welcome",)]


def test_the_life_cycle_types_are_the_manifests() -> None:
    assert tuple(t.event_type for t in ext.LIFECYCLE) == LIFECYCLE_EVENTS


def test_a_chat_holds_a_bounded_number_of_installs() -> None:
    chat = new_chat("free")
    for n in range(MAX_INSTALLS):
        chat = installed(chat, f"ext_{n}")
    with pytest.raises(InvalidRequestError):
        installed(chat, "one_too_many")
    # so the routing list of its events stays within the envelope's bound, and the chat item's budget
    assert len(ext.routed_to(chat, JOINED)) == MAX_INSTALLS <= MAX_ROUTED_EXTENSIONS


def test_a_derived_event_keeps_its_causes_routing_within_its_chat() -> None:
    cause = new_event(JOINED, chat_id="c-1", actor=SYSTEM, extensions=("sentiment", "webhook"))
    scored = ExtensionEvent(extension_id="sentiment", name="sentiment.scored", payload={})
    assert derive(cause, scored).metadata.extensions == ("sentiment", "webhook")
    assert derive(cause, scored, chat_id="c-2").metadata.extensions == ()


# -- bot message limits ----------------------------------------------------------------------------


def _bot_post(chat: Chat, extension_id: str, seconds: float) -> Chat:
    return ext.post_extension_message(
        chat,
        extension_id=extension_id,
        name=extension_id,
        text="hi",
        request_id=f"r-{extension_id}-{seconds}",
        message_id=f"m-{extension_id}-{seconds}",
        now=at(seconds),
    ).chat


def test_each_bot_is_limited_per_minute_and_the_next_minute_starts_afresh() -> None:
    chat = new_chat("free", settings=ChatSettings(extension_messages_per_minute=2))
    chat = _bot_post(_bot_post(chat, "welcome", 1), "welcome", 2)
    with pytest.raises(RateLimitedError) as refused:
        _bot_post(chat, "welcome", 3)
    assert 1 <= refused.value.retry_after <= 60
    # another bot has its own count
    chat = _bot_post(chat, "sentiment", 4)
    # and the next calendar minute starts a new window, keeping only that minute's counts
    later = _bot_post(chat, "welcome", 3 + 60)
    assert later.bot_posts == {"welcome": 1}


def test_all_bots_together_are_limited_per_chat() -> None:
    chat = new_chat(
        "free", settings=ChatSettings(extension_messages_per_minute=5, extension_messages_per_minute_total=3)
    )
    for n, extension_id in enumerate(("a_bot", "b_bot", "c_bot")):
        chat = _bot_post(chat, extension_id, n)
    with pytest.raises(RateLimitedError):
        _bot_post(chat, "d_bot", 5)
