"""The chat aggregate as stored (one item, written with optimistic concurrency)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.catalog import (
    Audience,
    Envelope,
    EventData,
    MessageView,
    ParticipantKind,
    ParticipantView,
    Role,
    TurnMode,
)

MAX_MESSAGE_LENGTH = 20_000
"""Hard cap: 20,000 characters of 4-byte UTF-8 still fit an EventBridge entry (256 KiB) with room."""

SUPPORTED_TURN_MODES: frozenset[str] = frozenset({"free", "round_robin", "alternating", "moderated"})
"""Modes whose turn rules the domain enforces (see parley.domain.turns)."""

MODERATOR_ROLES: frozenset[str] = frozenset({"owner", "moderator"})

# The chat item's size budget: every part of it is bounded, so the largest possible item stays
# under CHAT_ITEM_BUDGET (tests/unit/test_chat_item_budget.py builds it), far from DynamoDB's 400 KB.
CHAT_ITEM_BUDGET = 350_000
MAX_PARTICIPANTS = 100
"""People and AI participants together; one more join is refused (409 ``chat_full``)."""
MAX_POST_TIMES = 3000
"""Members' post times kept in the item, all posters together: past it the oldest are forgotten (a
rate limit is exact while the chat's posts in one window stay under it)."""
MAX_RECENT_POSTERS = MAX_PARTICIPANTS
"""Posters whose times are kept (members who left count until their window passes); past it the
longest quiet one is forgotten."""
MAX_USER_ID_LENGTH = 128
"""A person's id (the token's ``sub``): printable ASCII, as OpenID Connect has it."""
MAX_PERSONA_BYTES = 32_000
"""All AI participants' personas together, as JSON in UTF-8 bytes (422 at create)."""
MAX_INSTALLS = 16
"""Extensions installed on one chat (422 at install)."""
MAX_CONFIG_BYTES = 32_768
"""All installs' configs on one chat together, as JSON in UTF-8 bytes (422 ``invalid_config``)."""
MAX_AI_CONTEXT_BYTES = 2 + 2000
"""One extension's AI context as a JSON string (2,000 bytes and its quotes), in UTF-8 bytes: longer
text is cut, as past 2,000 characters."""


def json_bytes(value: Any) -> int:
    """Its size in the chat item's JSON (``Chat.stored``)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ChatSettings(_Frozen):
    max_message_length: int = Field(
        4000,
        ge=1,
        le=MAX_MESSAGE_LENGTH,
        description="Longest accepted message text, in characters.",
    )
    rate_limit_messages: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Messages one member may post ...",
    )
    rate_limit_window_seconds: int = Field(10, ge=1, le=3600, description="... within this many seconds.")
    turn_timeout_seconds: int = Field(
        120, ge=5, le=86_400, description="An untaken turn moves on after this."
    )
    hook_fallback: Literal["allow", "reject"] = Field(
        "allow",
        description="What applies when a moderation or turn hook of an extension times out or fails.",
    )
    extension_messages_per_minute: int = Field(
        30, ge=1, le=600, description="Messages each extension's bot may post in a calendar minute ..."
    )
    extension_messages_per_minute_total: int = Field(
        60, ge=1, le=6000, description="... and all extensions' bots together; more are refused."
    )


class AIProfile(_Frozen):
    persona: str = Field("", max_length=8000, description="System prompt of the AI participant.")
    provider: str = Field("local", max_length=64)
    model: str = Field("", max_length=256)
    invocation: Literal["on_turn", "on_mention", "always"] | None = Field(
        None, description="Default: on_mention in free chats, on_turn in the others."
    )


InvocationPolicy = Literal["on_turn", "on_mention", "always"]


class Participant(_Frozen):
    id: str
    name: str
    kind: ParticipantKind
    role: Role
    joined_at: datetime
    ai: AIProfile | None = None

    def invocation(self, turn_mode: str) -> InvocationPolicy | None:
        """When this AI participant answers: its own policy, else on_mention in free chats and on_turn
        in the others. None for people."""
        if self.ai is None:
            return None
        return self.ai.invocation or ("on_mention" if turn_mode == "free" else "on_turn")

    def view(self) -> ParticipantView:
        return ParticipantView(id=self.id, name=self.name, kind=self.kind, role=self.role)


CIRCUIT_OPEN = "circuit_open"
"""An install's ``disabled_reason`` once its circuit opened: the platform turned it off, not a moderator."""

InstallStatus = Literal["enabled", "disabled", "circuit_open"]


class Install(_Frozen):
    """An extension installed on this chat, with its validated config and its circuit's state."""

    extension_id: str
    version: str
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
    installed_by: str
    installed_at: datetime
    consecutive_failures: int = Field(0, ge=0)
    disabled_reason: str | None = Field(
        None, description="Why it is off: `disabled` by a moderator, or `circuit_open` after failures."
    )
    ai_context: str = Field("", description="Text it contributes to AI participants' context.")
    active_since: int = Field(
        0,
        ge=0,
        description="The chat's last event-log sequence when it was (re-)enabled: a late delivery of an "
        "earlier event is not for it.",
    )
    backfill_through: int | None = Field(
        None,
        ge=1,
        description="Set when it was last enabled and its manifest asks for history: the chat's events up "
        "to this sequence reach it first, marked replayed (a backfill); later ones wait for it, a while.",
    )
    backfill_requested_at: datetime | None = Field(None, description="When that backfill was asked for.")
    shadow: bool = Field(
        False, description="Runs on live events, but its outputs and rulings are recorded, never applied."
    )
    shadow_config: dict[str, Any] | None = Field(
        None, description="A second config its hooks also rule with, recorded beside the live ruling."
    )

    @property
    def status(self) -> InstallStatus:
        """What members see: on, switched off by a moderator, or off after repeated failures."""
        if self.enabled:
            return "enabled"
        return "circuit_open" if self.disabled_reason == CIRCUIT_OPEN else "disabled"


class TurnState(_Frozen):
    holder_id: str | None = None
    holder_joined_at: datetime | None = Field(
        None, description="Lets the floor pass to the holder's successor even after the holder left."
    )
    holder_kind: ParticipantKind | None = Field(
        None, description="Alternating mode needs it to place the successor of a holder who left."
    )
    last_human: tuple[datetime, str] | None = Field(
        None,
        description="(joined_at, id) of the last person who held the floor: alternating resumes after them.",
    )
    turn_number: int = 0
    consumed: bool = Field(False, description="The holder has posted; the turns handler moves the floor.")
    since: datetime | None = None
    quiet_turns: int = Field(0, ge=0, description="Time-outs in a row; the deadline backs off with them.")


class Chat(_Frozen):
    chat_id: str
    title: str
    status: Literal["active", "completed"] = "active"
    turn_mode: TurnMode
    settings: ChatSettings
    participants: tuple[Participant, ...] = ()
    turn: TurnState = TurnState()
    created_by: str
    created_at: datetime
    last_message_sequence: int = 0
    last_human_sequence: int = Field(0, description="Sequence of the latest message a person sent.")
    ai_replied: dict[str, int] = Field(
        default_factory=dict, description="Per AI participant, the sequence of its latest reply."
    )
    last_event_sequence: int = 0
    recent_posts: dict[str, tuple[float, ...]] = Field(
        default_factory=dict, description="Per-member post times inside the rate-limit window."
    )
    extensions: dict[str, Install] = Field(default_factory=dict, description="Installs, by extension id.")
    bot_minute: int = Field(0, ge=0, description="The calendar minute (epoch minutes) `bot_posts` counts.")
    bot_posts: dict[str, int] = Field(
        default_factory=dict,
        description="Per extension, its bot's messages in `bot_minute` (a fixed window).",
    )
    roster_version: int = Field(
        0, ge=0, description="Goes up whenever participants or their roles change (see Metadata)."
    )

    def enabled_extension(self, extension_id: str) -> Install | None:
        install = self.extensions.get(extension_id)
        return install if install is not None and install.enabled else None

    def member(self, user_id: str) -> Participant | None:
        return next((p for p in self.participants if p.id == user_id), None)

    def human(self, user_id: str) -> Participant | None:
        """The member a signed-in caller is; AI participants can never be impersonated by a token."""
        member = self.member(user_id)
        return member if member is not None and member.kind == "human" else None

    def has_news_for(self, participant: Participant) -> bool:
        """A person has posted since this AI participant last replied: it has something to answer.

        AI participants with nothing new are skipped in turn order, so AIs never talk among
        themselves in an idle chat and a silent AI never holds the floor until a time-out.
        """
        return participant.kind == "human" or self.last_human_sequence > self.ai_replied.get(
            participant.id, 0
        )

    def role_of(self, user_id: str) -> Role | None:
        """A signed-in member's role; None for anyone else (what the audience rule reads)."""
        member = self.human(user_id)
        return member.role if member is not None else None

    def is_moderator(self, user_id: str) -> bool:
        member = self.human(user_id)
        return member is not None and member.role in MODERATOR_ROLES

    def stored(self) -> str:
        """The item's JSON, small (see ``stored_data``)."""
        return json.dumps(self.stored_data(), ensure_ascii=False, separators=(",", ":"))

    def stored_data(self) -> dict[str, Any]:
        """What is stored, small: what equals its structural default (none, zero, empty) is left
        out and loads back the same; settings and AI profiles stay whole, so changing one of their
        defaults later never changes an existing chat."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["settings"] = self.settings.model_dump(mode="json")
        for stored, participant in zip(data.get("participants", ()), self.participants, strict=True):
            if participant.ai is not None:
                stored["ai"] = participant.ai.model_dump(mode="json")
        return data


@dataclass(frozen=True)
class Outcome:
    """What a command decided: the new chat state and what to write and announce with it."""

    chat: Chat
    events: tuple[EventData, ...] = ()
    message: MessageView | None = None
    audience: Audience | None = None
    """Who may see every event of this outcome (a whisper's); None: each event type's default."""
    updated: MessageView | None = None
    """A stored message's new version (MessageUpdated): its row is rewritten with the events."""
    update_revision: int | None = None
    """The extension's ``revision`` of that version: the row takes it only above the one it holds."""
    joined: Participant | None = None
    left: str | None = None
    sequenced: tuple[Envelope[Any], ...] = ()
    """The events as committed (numbered, enveloped): set by the unit of work, empty before."""
