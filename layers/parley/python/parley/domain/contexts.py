"""What one extension may know of one chat: its context row, a projection of the chat item.

An extension's role reads no core table. The core writes, in the same transaction as the chat, one
row per installed extension holding only what that install allows: the chat's head and settings,
its own install (config and secrets included), which other extensions are installed (ids and
whether they are on, never their configs), and, while it is enabled, the roster (ids, names, kinds,
roles; never an AI participant's persona or model). An uninstalled extension's row keeps the head
only, for a while, so its ``ExtensionUninstalled`` hook still runs; then it expires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from parley.catalog import TurnMode
from parley.domain.model import Chat, ChatSettings, Install, Participant, _Frozen

UNINSTALLED_KEEP_SECONDS = 14 * 24 * 3600
"""An uninstalled extension's row outlives any redelivery of its ExtensionUninstalled (DLQs keep 14 days)."""


class Peer(_Frozen):
    """Another extension installed on the chat: enough for the SDK's policy on its events."""

    version: str
    enabled: bool
    disabled_reason: str | None = None
    installed_at: datetime
    shadow: bool = Field(False, description="Its events are recorded, not applied: subscribers skip them.")


class ExtensionContext(_Frozen):
    extension_id: str
    chat_id: str
    title: str
    status: Literal["active", "completed"]
    turn_mode: TurnMode
    settings: ChatSettings
    created_by: str
    created_at: datetime
    install: Install | None = Field(None, description="None once uninstalled (the row then expires).")
    participants: tuple[Participant, ...] = Field((), description="Only while the install is enabled.")
    peers: dict[str, Peer] = Field(default_factory=dict)

    def as_chat(self) -> Chat:
        """The chat as this extension sees it: ``Chat`` keeps the SDK's ``ctx.chat`` type."""
        installs = {
            peer_id: Install(
                extension_id=peer_id,
                version=peer.version,
                enabled=peer.enabled,
                disabled_reason=peer.disabled_reason,
                installed_by="",
                installed_at=peer.installed_at,
                shadow=peer.shadow,
            )
            for peer_id, peer in self.peers.items()
        }
        if self.install is not None:
            installs[self.extension_id] = self.install
        return Chat(
            chat_id=self.chat_id,
            title=self.title,
            status=self.status,
            turn_mode=self.turn_mode,
            settings=self.settings,
            participants=self.participants,
            created_by=self.created_by,
            created_at=self.created_at,
            extensions=installs,
        )


def context_of(chat: Chat, extension_id: str) -> ExtensionContext:
    """The row ``extension_id`` gets on this chat (its install may be gone: then the head only)."""
    install = chat.extensions.get(extension_id)
    enabled = install is not None and install.enabled
    return ExtensionContext(
        extension_id=extension_id,
        chat_id=chat.chat_id,
        title=chat.title,
        status=chat.status,
        turn_mode=chat.turn_mode,
        settings=chat.settings,
        created_by=chat.created_by,
        created_at=chat.created_at,
        install=install,
        participants=tuple(p.model_copy(update={"ai": None}) for p in chat.participants) if enabled else (),
        peers={
            k: Peer(
                version=i.version,
                enabled=i.enabled,
                disabled_reason=i.disabled_reason,
                installed_at=i.installed_at,
                shadow=i.shadow,
            )
            for k, i in chat.extensions.items()
            if k != extension_id and install is not None
        },
    )


def _seen(chat: Chat) -> tuple[object, ...]:
    """Every part of the chat a context row shows (a post changes none of them)."""
    return (
        chat.title,
        chat.status,
        chat.turn_mode,
        chat.settings,
        chat.created_by,
        chat.participants,
        chat.extensions,
    )


def changed_contexts(before: Chat | None, after: Chat) -> list[ExtensionContext]:
    """The rows a change must write: every extension installed before or after whose view moved."""
    if before is not None and _seen(before) == _seen(after):
        return []
    ids = set(after.extensions) | (set(before.extensions) if before is not None else set())
    changed = []
    for extension_id in sorted(ids):
        new = context_of(after, extension_id)
        if before is None or context_of(before, extension_id) != new:
            changed.append(new)
    return changed
