"""Read filters' verdicts as data: what each viewer reads of one stored message, and how it is cached.

A read filter (an extension's ``on_read`` hook) rules once per message for every member; the verdicts
are kept beside the message (``parley.adapters.dynamodb``) under a key that names the filters and
their configs, so a config change (a member opting in) makes the old verdicts stale by itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.catalog import MessageView
from parley.domain.model import Chat

Action = Literal["keep", "hide", "rewrite"]
MessageKey = tuple[int, int]
"""A message version whose verdicts are cached: (sequence, version)."""
STRENGTH: dict[str, int] = {"keep": 0, "rewrite": 1, "hide": 2}
"""When two filters disagree for one viewer: hide beats rewrite beats keep (the first rewrite stays)."""


class Rewrite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    text: str
    viewers: tuple[str, ...]


class MessageVerdicts(BaseModel):
    """One message's verdicts for the viewers in ``viewers``; those not hidden nor rewritten keep it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    key: str = Field(description="The filters (ids, versions, configs) that ruled: see ``filter_key``.")
    version: int = Field(1, ge=1, description="The message version they ruled on (``MessageView.version``).")
    viewers: frozenset[str]
    hidden: frozenset[str] = frozenset()
    rewrites: tuple[Rewrite, ...] = ()

    def covers(self, key: str, version: int, viewers: Iterable[str]) -> bool:
        """A verdict on another version of the message (an extension updated it) rules on nothing."""
        return self.key == key and self.version == version and self.viewers.issuperset(viewers)

    def for_viewer(self, viewer: str) -> tuple[Action, str | None]:
        if viewer in self.hidden:
            return "hide", None
        for rewrite in self.rewrites:
            if viewer in rewrite.viewers:
                return "rewrite", rewrite.text
        return "keep", None

    @classmethod
    def combine(
        cls,
        key: str,
        viewers: Iterable[str],
        rulings: dict[str, tuple[Action, str | None]],
        *,
        version: int = 1,
    ) -> MessageVerdicts:
        """From each viewer's combined ruling (viewers without one keep the message)."""
        texts: dict[str, list[str]] = {}
        for viewer, (action, text) in sorted(rulings.items()):
            if action == "rewrite" and text is not None:
                texts.setdefault(text, []).append(viewer)
        return cls(
            key=key,
            version=version,
            viewers=frozenset(viewers),
            hidden=frozenset(v for v, (action, _) in rulings.items() if action == "hide"),
            rewrites=tuple(Rewrite(text=t, viewers=tuple(vs)) for t, vs in texts.items()),
        )

    def apply(self, message: MessageView, viewer: str) -> MessageView:
        """A hidden or rewritten message loses its blocks, as a moderation rewrite does: what they
        show was ruled on with the text (``ReadMessage.text``) and must not slip past the verdict."""
        action, text = self.for_viewer(viewer)
        if action == "keep":
            return message
        unblocked = {"blocks": None, "blocks_version": None}
        if action == "hide":
            return message.model_copy(update={"text": "", "filtered": "hidden", **unblocked})
        return message.model_copy(update={"text": text, "filtered": "rewritten", **unblocked})


def stronger(
    current: tuple[Action, str | None] | None, new: tuple[Action, str | None]
) -> tuple[Action, str | None]:
    """Two filters' rulings for one (message, viewer) folded into one (``STRENGTH``)."""
    if current is None or STRENGTH[new[0]] > STRENGTH[current[0]]:
        return new
    return current


def filter_key(chat: Chat, documents: Sequence[tuple[str, str]]) -> str:
    """Names the filters that rule on this chat's reads: (id, version) of each, and its config here."""
    basis: list[Any] = [
        [extension_id, version, chat.extensions[extension_id].config] for extension_id, version in documents
    ]
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


def readers(chat: Chat) -> frozenset[str]:
    """Who reads the chat's messages: its people (AI participants and bots read no frames)."""
    return frozenset(p.id for p in chat.participants if p.kind == "human")
