"""The one rule for events that extensions send: who may send what, for which chat.

The core's gateway applies it before acting on an extension's request (and records a refusal as
ExtensionEventRejected); the SDK applies the same rule before a subscriber sees another
extension's ExtensionEvent, so a refused event changes nothing anywhere. IAM enforces the first
half (own source, allowed detail-types) in AWS before an event even reaches the bus.
"""

from __future__ import annotations

from typing import Any

from parley.catalog import EXTENSION_SOURCE_PREFIX, Envelope
from parley.domain.model import Chat
from parley.extensions.manifest import INTERACTIVE, SENT_BY_EXTENSIONS, ExtensionDocument

NEEDS_ONLY_INSTALL = frozenset({"ExtensionFailed", "ExtensionRecovered"})
"""Health reports count even while the extension is off (its last failures opened the circuit)."""


SHADOWED = frozenset(
    {
        "ExtensionMessageRequested",
        "ExtensionMessageUpdateRequested",
        "ExtensionEphemeralRequested",
        "ExtensionEvent",
        "AIContextContributed",
        "WorkflowRunReported",
        "ExtensionFloorRequested",
        "ExtensionSettingsRequested",
    }
)
"""Outputs a shadow install's requests never apply: the core records them (ExtensionShadowOutput).
Every output type an extension may send belongs here, else shadow mode would deliver it live."""
SHADOW = "shadow: the extension runs in shadow mode on this chat; its outputs are recorded, not applied"


def sender_id(envelope: Envelope[Any], source: str | None) -> str:
    """The extension an event claims to come from: its bus source, else its actor."""
    if source and source.startswith(EXTENSION_SOURCE_PREFIX):
        return source.removeprefix(EXTENSION_SOURCE_PREFIX)
    return envelope.metadata.actor.id


def refusal(
    envelope: Envelope[Any],
    source: str | None,
    document: ExtensionDocument | None,
    chat: Chat | None,
) -> str | None:
    """Why the core refuses this event from an extension, or None if it is allowed."""
    actor = envelope.metadata.actor
    event_type = envelope.event_type
    if actor.kind != "extension" or source != envelope.source:
        return f"source_mismatch: sent as {source!r} by actor {actor.kind}:{actor.id}"
    claimed = getattr(envelope.data, "extension_id", actor.id)
    if claimed != actor.id:
        return f"source_mismatch: extension {actor.id} wrote extension_id {claimed!r}"
    if document is None:
        return f"not_registered: no extension {actor.id!r} in the registry"
    if event_type not in SENT_BY_EXTENSIONS:
        return f"event_type_not_allowed: extensions may not send {event_type}"
    needed = SENT_BY_EXTENSIONS[event_type]
    if needed is not None and not document.can(needed):
        return f"missing_capability: {event_type} needs {needed}"
    if getattr(envelope.data, "blocks", None) is not None and not document.can(INTERACTIVE):
        return f"missing_capability: a message with blocks needs {INTERACTIVE}"
    if event_type == "ExtensionEvent" and getattr(envelope.data, "name", None) not in document.emits:
        return f"undeclared_event: {getattr(envelope.data, 'name', None)!r} is not in the manifest's emits"
    return _install_refusal(chat, actor.id, event_type)


def _install_refusal(chat: Chat | None, extension_id: str, event_type: str) -> str | None:
    """Why the chat's install of the sender refuses the event (none, off, or in shadow mode)."""
    if chat is None:
        return "unknown_chat"
    install = chat.extensions.get(extension_id)
    if install is None:
        return "not_installed: the extension is not installed on this chat"
    if event_type not in NEEDS_ONLY_INSTALL and not install.enabled:
        return "not_enabled: the extension is disabled on this chat"
    if install.shadow and event_type in SHADOWED:
        return SHADOW
    return None
