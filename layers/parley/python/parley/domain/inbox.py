"""The inbox as pure rules: what a chat's latest message shows, how unread counts, what a log yields."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.catalog import Envelope, MessageStored, MessageUpdated, MessageView, SenderKind
from parley.domain import audience

PREVIEW_LENGTH = 140


class LastMessage(BaseModel):
    """A chat's latest message as the chat list shows it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    message_id: str
    sender_id: str
    sender_name: str
    sender_kind: SenderKind
    text: str = Field(description=f"The first {PREVIEW_LENGTH} characters of the text.")
    truncated: bool = Field(description="The text was longer than the preview.")
    sequence: int = Field(ge=1)
    created_at: datetime
    filtered: Literal["hidden", "rewritten"] | None = Field(
        default=None,
        description="Set when a read filter hid (empty `text`) or rewrote the message for this viewer, "
        "as in the message history.",
    )


def preview(message: MessageView) -> LastMessage:
    return LastMessage(
        message_id=message.message_id,
        sender_id=message.sender_id,
        sender_name=message.sender_name,
        sender_kind=message.sender_kind,
        text=message.text[:PREVIEW_LENGTH],
        truncated=len(message.text) > PREVIEW_LENGTH,
        sequence=message.sequence,
        created_at=message.created_at,
    )


def unread(last_sequence: int, last_read_sequence: int) -> int:
    """Messages after the member's marker."""
    return max(0, last_sequence - last_read_sequence)


def own_marker(message: MessageView) -> str | None:
    """Whose marker a message moves: a person has read what they post (bots and AIs have none)."""
    return message.sender_id if message.sender_kind == "human" else None


class PrivateMessage(BaseModel):
    """A whisper as the inbox keeps it: counted and previewed for its audience only."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    audience: tuple[str, ...]
    last: LastMessage


@dataclass(frozen=True)
class InboxView:
    last: LastMessage | None
    unread: int


def view_for(
    viewer: str,
    last: LastMessage | None,
    last_sequence: int,
    private: Iterable[PrivateMessage],
    last_read_sequence: int,
) -> InboxView:
    """A chat's inbox line for one member: message sequences have no gaps, so unread is the span after
    the marker less the whispers in it that are not for them; the preview is the latest they may see."""
    whispers = list(private)
    top = max([last_sequence, *(p.last.sequence for p in whispers)])
    hidden = sum(1 for p in whispers if p.last.sequence > last_read_sequence and viewer not in p.audience)
    shown = [m for m in (last, *(p.last for p in whispers if viewer in p.audience)) if m is not None]
    latest = max(shown, key=lambda m: m.sequence, default=None)
    return InboxView(latest, max(0, unread(top, last_read_sequence) - hidden))


PROJECTED = ("MessageStored", "MessageUpdated")
"""The events the inbox reads: a post, and an extension's new version of its message (a poll's counts)."""


def newer(sequence: int, version: int, than: tuple[int, int] | None) -> bool:
    """Forward only: a later message, or a later version of the same one (``(sequence, version)``)."""
    return than is None or (sequence, version) > than


@dataclass
class InboxFold:
    """What a chat's log gives the inbox: its latest message for everyone (in its latest version), its
    whispers, and each poster's marker. ``versions``: each preview's message version, by sequence."""

    last: LastMessage | None = None
    markers: dict[str, int] = field(default_factory=dict)
    private: dict[int, PrivateMessage] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)

    def apply(self, envelope: Envelope[Any]) -> None:
        if not isinstance(envelope.data, MessageStored | MessageUpdated):
            return
        message = envelope.data.message
        scope = audience.audience_of(envelope)
        at = message.sequence
        if not isinstance(scope, str):
            if newer(at, message.version, (at, self.versions[at]) if at in self.private else None):
                self.private[at] = PrivateMessage(audience=scope, last=preview(message))
                self.versions[at] = message.version
        elif scope == audience.EVERYONE and self._moves_preview(envelope, at, message.version):
            self.last = preview(message)
            self.versions[at] = message.version
        poster = own_marker(message) if isinstance(envelope.data, MessageStored) else None
        if poster is not None:
            self.markers[poster] = max(self.markers.get(poster, 0), at)

    def _moves_preview(self, envelope: Envelope[Any], at: int, version: int) -> bool:
        """A post, or a later version of the message shown; an update never starts a preview (a head
        with none yet reads the older rows, whose latest message an old message's update must not hide)."""
        if self.last is None and not isinstance(envelope.data, MessageStored):
            return False
        return newer(at, version, self._shown())

    def _shown(self) -> tuple[int, int] | None:
        last = self.last
        return None if last is None else (last.sequence, self.versions.get(last.sequence, 1))

    def version(self, sequence: int) -> int:
        """The version of the preview folded at ``sequence`` (1: as posted)."""
        return self.versions.get(sequence, 1)


def fold_inbox(events: Iterable[Envelope[Any]]) -> InboxFold:
    folded = InboxFold()
    for envelope in events:
        folded.apply(envelope)
    return folded


@dataclass(frozen=True)
class ChatLine:
    """What the chat head carries for the chat list, so that a post writes nothing else for it: the
    latest public message's preview (in its ``version``) and each person's latest post sequence (a
    person has read what they posted). Whispers keep rows of their own (the relay writes them)."""

    last: LastMessage | None = None
    version: int = 1
    posted: dict[str, int] = field(default_factory=dict)
    spilled: bool = False
    """The preview's text was left out of the head (it would have cost the post one more write unit):
    the chat list reads it from the message."""


def advance(line: ChatLine | None, events: Iterable[Envelope[Any]]) -> ChatLine:
    """The line after a commit's events: the same forward-only fold as the inbox rows, so a head and
    a rebuild from the log agree; a chat's writes are serialized by its version, so no condition."""
    line = line or ChatLine()
    versions = {line.last.sequence: line.version} if line.last is not None else {}
    folded = InboxFold(last=line.last, markers=dict(line.posted), versions=versions)
    for envelope in events:
        folded.apply(envelope)
    last = folded.last
    version = folded.version(last.sequence) if last is not None else 1
    # a preview whose text the head left out stays left out until another message replaces it
    return ChatLine(last, version, folded.markers, spilled=line.spilled and last is line.last)


def read_up_to(marker: int, line: ChatLine | None, viewer: str) -> int:
    """The member's effective marker: their explicit one, or their latest post if that is later."""
    return max(marker, line.posted.get(viewer, 0) if line is not None else 0)
