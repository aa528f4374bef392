"""The types calls return: the server's own models (one source, so client and server cannot drift),
plus the few shapes defined in modules a client should not import (they pull in the Lambda runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from parley.catalog import (
    CLIENT_VISIBLE,
    CatalogError,
    Envelope,
    EventData,
    MessageView,
    Withheld,
    data_model,
    parse_detail,
)
from parley.domain.model import ChatSettings
from parley.extensions.builtin._analytics_model import AnalyticsSummary, ChatAnalytics
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.usage import ExtensionChatsUsage, ExtensionChatUsage, ExtensionUsage
from parley.http.models import (
    AcceptedCommand,
    AIParticipantIn,
    ChatList,
    ChatListItem,
    ChatOut,
    CommandInfo,
    CommandList,
    EventItem,
    EventPage,
    ExtensionList,
    Health,
    InstallList,
    InstallOut,
    MessagePage,
    ParticipantOut,
    PostedMessage,
    ReadOut,
    SettingsPatch,
    SubmittedAction,
    TurnOut,
)
from parley.realtime.frames import Frame, frame_of

__all__ = [
    "AIParticipantIn",
    "AcceptedCommand",
    "AnalyticsSummary",
    "ChatAnalytics",
    "ChatList",
    "ChatListItem",
    "ChatOut",
    "ChatSettings",
    "CommandInfo",
    "CommandList",
    "Envelope",
    "EventData",
    "EventItem",
    "EventPage",
    "ExtensionChatUsage",
    "ExtensionChatsUsage",
    "ExtensionDocument",
    "ExtensionList",
    "ExtensionUsage",
    "Frame",
    "Health",
    "InstallList",
    "InstallOut",
    "LiveEvent",
    "MessagePage",
    "MessageView",
    "ParticipantOut",
    "PostedMessage",
    "ReadOut",
    "SettingsPatch",
    "SubmittedAction",
    "Ticket",
    "TurnOut",
    "Withheld",
]


class Ticket(BaseModel):
    """POST /realtime/tickets (the server's ``TicketOut``; a unit test holds the two to one schema)."""

    ticket: str = Field(description="Single use, valid for 60 s.")
    url: str = Field(description="The WebSocket URL with the ticket: connect to it as it is.")
    expires_at: datetime


@dataclass(frozen=True)
class LiveEvent:
    """One client-visible event, from a socket frame or (to fill a gap) from the chat's event log.

    ``data`` is the catalog's model for ``type``; ``sequence`` is None for ephemeral events (typing,
    AI chunks, an ``EphemeralMessage`` for this member alone), which are never stored."""

    frame: Frame
    data: EventData

    @property
    def type(self) -> str:
        return self.frame.type

    @property
    def chat_id(self) -> str:
        return self.frame.chat_id or ""

    @property
    def sequence(self) -> int | None:
        return self.frame.sequence

    @property
    def event_id(self) -> str | None:
        return self.frame.event_id

    @property
    def occurred_at(self) -> datetime | None:
        return self.frame.occurred_at

    @property
    def actor(self) -> dict[str, Any] | None:
        return self.frame.actor

    @property
    def ephemeral(self) -> bool:
        """True for an ``EphemeralMessage``: shown to this member alone, never stored, so never in
        ``/events`` or a resume (keep it, or it is gone)."""
        return self.frame.ephemeral is True

    @classmethod
    def of_frame(cls, frame: Frame) -> LiveEvent | None:
        """None for a type this client's catalog does not know (a newer server's): skipped, not fatal."""
        try:
            return cls(frame, data_model(frame.type).model_validate(frame.data))
        except (CatalogError, ValidationError):
            return None

    @classmethod
    def of_item(cls, item: EventItem) -> LiveEvent | None:
        """The event as its frame would have carried it; None for events never pushed to sockets."""
        if item.event_type not in CLIENT_VISIBLE:
            return None
        if item.event_type == "Withheld":  # a marker carries its place and nothing else
            frame = Frame(type="Withheld", chat_id=item.metadata.get("chat_id"), sequence=item.sequence)
            return cls(frame, Withheld())
        envelope = parse_detail({"metadata": item.metadata, "data": item.data})
        return cls(frame_of(envelope), envelope.data)

    def to_json(self) -> dict[str, Any]:
        """The frame as the server sent it (what ``parley tail`` prints)."""
        return self.frame.model_dump(mode="json", exclude_none=True)


def envelope_of(item: EventItem) -> Envelope[EventData]:
    """An /events item as the catalog's typed envelope."""
    return parse_detail({"metadata": item.metadata, "data": item.data})
