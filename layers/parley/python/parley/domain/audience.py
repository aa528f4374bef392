"""Who may see a stored message or event: the one rule every read path applies.

Pushes, resume replays, history, the event log, analytics exports, the inbox and extension
deliveries all ask this module, so a whisper or a moderators' notice cannot leak through a path
that forgot a check. A viewer who may not see a stored event gets a content-free ``Withheld``
marker at its sequence instead (never a gap: clients' gap detection goes on working). Per-viewer
read filters chain after ``visible_to``: they only ever narrow what it allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from parley.catalog import (
    MAX_WHISPER_RECIPIENTS,
    Audience,
    Envelope,
    MessageStored,
    MessageView,
    Role,
    Withheld,
    data_model,
)
from parley.errors import InvalidRequestError

EVERYONE: Audience = "everyone"
MODERATORS: Audience = "moderators"
MODERATING_ROLES: frozenset[Role] = frozenset({"owner", "moderator"})
READ_PRIVATE = "messages:read_private"
"""The capability that lets an extension receive private messages not addressed to it."""
WITHHELD = Withheld.event_type


def type_default(event_type: str) -> Audience:
    """The audience of an event type that set none per event: its catalog default."""
    return MODERATORS if data_model(event_type).audience == "moderators" else EVERYONE


def audience_of_detail(detail: Mapping[str, Any]) -> Audience:
    """A stored detail's audience, without parsing its data."""
    meta = detail["metadata"]
    stored = meta.get("audience")
    if stored is None:
        return type_default(meta["event_type"])
    return stored if isinstance(stored, str) else tuple(stored)  # type: ignore[return-value]


def audience_of(envelope: Envelope[Any]) -> Audience:
    stored = envelope.metadata.audience
    return type_default(envelope.event_type) if stored is None else stored


def visible_to(viewer: str, role: Role | None, audience: Audience) -> bool:
    """May this member see it? ``role`` is the viewer's role in the chat (None: not a member)."""
    if role is None:
        return False
    if audience == EVERYONE:
        return True
    if audience == MODERATORS:
        return role in MODERATING_ROLES
    return viewer in audience


def message_audience(message: MessageView) -> Audience:
    """A message's audience: everyone, or (a whisper) its sender and addressees."""
    return EVERYONE if message.to is None else (message.sender_id, *message.to)


def message_visible_to(viewer: str, message: MessageView) -> bool:
    """History's check (every member of the chat has a role; only a whisper narrows it)."""
    return visible_to(viewer, "member", message_audience(message))


def whisper_to(sender_id: str, to: Iterable[str] | None, members: Iterable[str]) -> tuple[str, ...] | None:
    """Validate a whisper's addressees: 1..MAX unique current members, the sender implied."""
    if to is None:
        return None
    wanted = tuple(to)
    if not 1 <= len(wanted) <= MAX_WHISPER_RECIPIENTS or len(set(wanted)) != len(wanted):
        raise InvalidRequestError(f"to names 1 to {MAX_WHISPER_RECIPIENTS} distinct participants", field="to")
    known = set(members)
    strangers = [p for p in wanted if p not in known]
    if strangers:
        raise InvalidRequestError(f"to names non-members: {', '.join(strangers)}", field="to")
    others = tuple(p for p in wanted if p != sender_id)
    if not others:
        raise InvalidRequestError("to must name someone besides the sender", field="to")
    return others


def reply_to(cause: Audience, responder_id: str) -> tuple[str, ...] | None:
    """An AI asked by a whisper addressed to it answers with a whisper to the same people (its text
    would leak the whisper's otherwise); an AI asked by anything else answers everyone."""
    if isinstance(cause, str) or responder_id not in cause:
        return None
    return tuple(p for p in cause if p != responder_id) or None


def context_visible(message: MessageView, responder_id: str, reply: tuple[str, ...] | None) -> bool:
    """May an AI's model read this message while writing a reply to ``reply`` (its ``to``; None:
    public)? Whatever the model reads may surface in the reply, so it reads only what everyone the
    reply reaches could already see: a public reply only public messages (never a whisper the AI
    was told or sent), a whispered one the whispers its whole audience shares with the AI."""
    if message.to is None:
        return True
    if reply is None:
        return False
    return {responder_id, *reply} <= set(message_audience(message))


def extension_may_see(extension_id: str, audience: Audience, reads_private: Callable[[str], bool]) -> bool:
    """An extension gets a private event only if it is addressed to it or it holds READ_PRIVATE;
    a moderators' notice is for chat moderators, who are people."""
    if audience == EVERYONE:
        return True
    if audience != MODERATORS and extension_id in audience:
        return True
    return reads_private(extension_id)


def withheld_detail(chat_id: str, sequence: int) -> dict[str, Any]:
    """The event log's marker for an event the viewer may not see: its sequence, nothing else."""
    return {"metadata": {"event_type": WITHHELD, "chat_id": chat_id, "sequence": sequence}, "data": {}}


def screen_details(
    details: Iterable[Mapping[str, Any]], viewer: str, role: Role | None
) -> list[dict[str, Any]]:
    """An event-log page as this viewer may read it: each event, or its marker."""
    return [
        dict(d)
        if visible_to(viewer, role, audience_of_detail(d))
        else withheld_detail(d["metadata"]["chat_id"], d["metadata"]["sequence"])
        for d in details
    ]


def is_message_for(envelope: Envelope[Any], viewer: str, role: Role | None) -> bool:
    """For read models fed by MessageStored (inbox): a message this viewer counts and previews."""
    return isinstance(envelope.data, MessageStored) and visible_to(viewer, role, audience_of(envelope))
