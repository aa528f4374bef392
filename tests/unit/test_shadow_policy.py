"""Shadow mode in the one rule for what extensions send: a shadow install's outputs are refused as
`shadow` (the gateway records them, subscribers skip its events), its health reports still count,
and its context row tells other extensions' SDKs so."""

from __future__ import annotations

from typing import Any

import pytest

from parley.catalog import (
    Actor,
    ExtensionEvent,
    ExtensionFailed,
    ExtensionMessageRequested,
    ExtensionShadowChanged,
    new_event,
)
from parley.domain import extensions as installs
from parley.domain.contexts import context_of
from parley.domain.model import Chat
from parley.extensions.manifest import Manifest
from parley.extensions.policy import SHADOW, refusal
from tests.unit.chats import OWNER, at, new_chat

SENDER = Manifest(
    id="scorer",
    version="1.0.0",
    name="Scorer",
    description="Scores.",
    capabilities=frozenset({"messages:write", "events:emit"}),
    emits=("scorer.scored",),
)


def chat_with(*, shadow: bool) -> Chat:
    outcome = installs.put_install(
        new_chat("free"),
        user_id=OWNER,
        extension_id="scorer",
        version="1.0.0",
        enabled=True,
        config={},
        now=at(1),
        shadow=shadow,
    )
    return outcome.chat


def sent(data: Any) -> tuple[Any, str]:
    envelope = new_event(data, chat_id="chat-1", actor=Actor(id="scorer", kind="extension"))
    return envelope, envelope.source


@pytest.mark.parametrize(
    "data",
    [
        ExtensionMessageRequested(extension_id="scorer", request_id="r-1", text="hi"),
        ExtensionEvent(extension_id="scorer", name="scorer.scored", payload={}),
    ],
    ids=["bot-message", "event"],
)
def test_a_shadow_installs_outputs_are_refused_as_shadow_and_a_live_ones_pass(data: Any) -> None:
    envelope, source = sent(data)
    assert refusal(envelope, source, SENDER.document(), chat_with(shadow=True)) == SHADOW
    assert refusal(envelope, source, SENDER.document(), chat_with(shadow=False)) is None


def test_a_shadow_installs_health_reports_still_count() -> None:
    failed = ExtensionFailed(
        extension_id="scorer", failed_event_id="e-1", error="boom", consecutive_failures=1
    )
    envelope, source = sent(failed)
    assert refusal(envelope, source, SENDER.document(), chat_with(shadow=True)) is None


def test_other_extensions_see_in_their_context_row_that_a_peer_is_in_shadow() -> None:
    chat = chat_with(shadow=True)
    chat = installs.put_install(
        chat, user_id=OWNER, extension_id="listener", version="1.0.0", enabled=True, config={}, now=at(2)
    ).chat
    seen = context_of(chat, "listener").as_chat()
    assert seen.extensions["scorer"].shadow is True
    envelope, source = sent(ExtensionEvent(extension_id="scorer", name="scorer.scored"))
    assert refusal(envelope, source, SENDER.document(), seen) == SHADOW


def test_a_shadow_change_is_announced_once() -> None:
    chat = chat_with(shadow=False)
    outcome = installs.put_install(
        chat,
        user_id=OWNER,
        extension_id="scorer",
        version="1.0.0",
        enabled=True,
        config={},
        now=at(3),
        shadow_config={"threshold": 2},
    )
    [announced] = outcome.events
    assert announced.event_type == "ExtensionShadowChanged"
    assert outcome.chat.extensions["scorer"].shadow_config == {"threshold": 2}
    assert (
        installs.put_install(
            outcome.chat,
            user_id=OWNER,
            extension_id="scorer",
            version="1.0.0",
            enabled=True,
            config={},
            now=at(4),
            shadow_config={"threshold": 2},
        ).events
        == ()
    )


def test_a_shadow_configs_secrets_are_announced_redacted() -> None:
    outcome = installs.put_install(
        chat_with(shadow=False),
        user_id=OWNER,
        extension_id="scorer",
        version="1.0.0",
        enabled=True,
        config={},
        now=at(3),
        secret_fields=frozenset({"token"}),
        shadow_config={"token": "s3cret", "threshold": 2},
    )
    [announced] = outcome.events
    assert isinstance(announced, ExtensionShadowChanged)
    assert announced.shadow_config == {"token": installs.REDACTED, "threshold": 2}
    assert outcome.chat.extensions["scorer"].shadow_config == {"token": "s3cret", "threshold": 2}
