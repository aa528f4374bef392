"""Every HTTP route as data: the request to send and how to read the answer, so the sync and the async
client share one definition per route. ``OPERATIONS`` maps the OpenAPI operation ids to client methods
(a unit test holds it to docs/openapi.json)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from parley_client._http import Request, Response
from parley_client.errors import CommandSentError
from parley_client.models import (
    AcceptedCommand,
    AIParticipantIn,
    AnalyticsSummary,
    ChatAnalytics,
    ChatList,
    ChatOut,
    CommandList,
    EventPage,
    ExtensionChatsUsage,
    ExtensionChatUsage,
    ExtensionDocument,
    ExtensionList,
    ExtensionUsage,
    Health,
    InstallList,
    InstallOut,
    MessagePage,
    PostedMessage,
    ReadOut,
    SettingsPatch,
    SubmittedAction,
    Ticket,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
TurnMode = Literal["free", "round_robin", "alternating", "moderated"]

OPERATIONS: dict[str, str] = {
    "health": "health",
    "workflows_schema": "workflows_schema",
    "list_chats": "chat_page",
    "mark_read": "mark_read",
    "create_chat": "create_chat",
    "get_chat": "chat",
    "join_chat": "join",
    "leave_chat": "leave",
    "list_messages": "messages",
    "post_message": "send",
    "submit_action": "act",
    "change_settings": "change_settings",
    "grant_turn": "grant_turn",
    "complete_chat": "complete",
    "list_events": "event_page",
    "list_extensions": "extensions",
    "list_installs": "installs",
    "get_install": "install",
    "put_install": "put_install",
    "uninstall": "uninstall",
    "chat_analytics": "analytics",
    "analytics_summary": "analytics_summary",
    "extension_usage": "extension_usage",
    "extension_chat_usage": "extension_chat_usage",
    "extension_chats_usage": "extension_chats_usage",
    "create_ticket": "ticket",
    "list_commands": "commands",
}


@dataclass(frozen=True)
class Call(Generic[T]):
    request: Request
    read: Callable[[Response], T]


def _model(model: type[M]) -> Callable[[Response], M]:
    return lambda response: model.model_validate_json(response.body)


def _nothing(_: Response) -> None:
    return None


def _text(response: Response) -> str:
    return response.body.decode()


def _json_object(response: Response) -> dict[str, Any]:
    found = json.loads(response.body)
    if not isinstance(found, dict):
        raise ValueError("expected a JSON object")
    return found


def _chat(chat_id: str) -> str:
    if not chat_id or "/" in chat_id:
        raise ValueError(f"not a chat id: {chat_id!r}")
    return f"/chats/{chat_id}"


def health() -> Call[Health]:
    return Call(Request("GET", "/health", auth=False), _model(Health))


def workflows_schema() -> Call[dict[str, Any]]:
    return Call(Request("GET", "/workflows/schema", auth=False), _json_object)


def list_chats(cursor: str | None, limit: int | None) -> Call[ChatList]:
    query = {"cursor": cursor, "limit": limit}
    return Call(Request("GET", "/chats", query=query), _model(ChatList))


def mark_read(chat_id: str, sequence: int) -> Call[ReadOut]:
    # moving a marker forward is idempotent: a resend after a lost answer changes nothing
    return Call(Request("POST", f"{_chat(chat_id)}/read", body={"sequence": sequence}), _model(ReadOut))


def ai_participant(ai: str | AIParticipantIn) -> AIParticipantIn:
    """A name is enough: its id is the name in lower case with anything else replaced by ``-``."""
    if isinstance(ai, AIParticipantIn):
        return ai
    return AIParticipantIn(id=re.sub(r"[^a-z0-9_.-]+", "-", ai.lower()).strip("-") or "ai", name=ai)


def create_chat(
    title: str, mode: TurnMode, ai: Iterable[str | AIParticipantIn], settings: Mapping[str, Any] | None
) -> Call[ChatOut]:
    body: dict[str, Any] = {
        "title": title,
        "turn_mode": mode,
        "ai_participants": [ai_participant(a).model_dump(exclude_none=True) for a in ai],
    }
    if settings is not None:
        body["settings"] = dict(settings)
    # not idempotent: a lost answer may have created it, so only 429/503 (nothing done) are retried
    return Call(Request("POST", "/chats", body=body, idempotent=False), _model(ChatOut))


def get_chat(chat_id: str) -> Call[ChatOut]:
    return Call(Request("GET", _chat(chat_id)), _model(ChatOut))


def join_chat(chat_id: str) -> Call[ChatOut]:
    return Call(Request("POST", f"{_chat(chat_id)}/members"), _model(ChatOut))


def leave_chat(chat_id: str) -> Call[None]:
    return Call(Request("DELETE", f"{_chat(chat_id)}/members/me"), _nothing)


def list_messages(
    chat_id: str, after: int | None, before: int | None, limit: int | None
) -> Call[MessagePage]:
    query = {"after": after, "before": before, "limit": limit}
    return Call(Request("GET", f"{_chat(chat_id)}/messages", query=query), _model(MessagePage))


def post_message(
    chat_id: str,
    text: str,
    client_message_id: str | None,
    to: Sequence[str] | None = None,
    origin_connection_id: str | None = None,
) -> Call[PostedMessage]:
    """With a ``client_message_id`` (one is made when none is given) the server stores a message once,
    however often it is sent, so every failure that may have stored it can be retried. ``to`` makes it
    a whisper to those members. With ``origin_connection_id`` that socket is not pushed the message:
    the answer's ``frame`` is its copy."""
    body: dict[str, Any] = {"text": text, "client_message_id": client_message_id or uuid.uuid4().hex}
    if to is not None:
        body["to"] = list(to)
    if origin_connection_id is not None:
        body["origin_connection_id"] = origin_connection_id
    return Call(Request("POST", f"{_chat(chat_id)}/messages", body=body), _posted)


def _posted(response: Response) -> PostedMessage:
    if response.status == 202:
        raise CommandSentError(AcceptedCommand.model_validate_json(response.body))
    return PostedMessage.model_validate_json(response.body)


def run_command(
    chat_id: str, text: str, client_message_id: str | None
) -> Call[AcceptedCommand | PostedMessage]:
    """A post meant as a slash command: the server's 202 (``AcceptedCommand``), or the message it
    became when no extension enabled on the chat declares the command (posted as typed)."""
    body = {"text": text, "client_message_id": client_message_id or uuid.uuid4().hex}
    return Call(Request("POST", f"{_chat(chat_id)}/messages", body=body), _command_or_message)


def _command_or_message(response: Response) -> AcceptedCommand | PostedMessage:
    if response.status == 202:
        return AcceptedCommand.model_validate_json(response.body)
    return PostedMessage.model_validate_json(response.body)


def list_commands(chat_id: str) -> Call[CommandList]:
    return Call(Request("GET", f"{_chat(chat_id)}/commands"), _model(CommandList))


def submit_action(
    chat_id: str,
    message_id: str,
    action_id: str,
    values: Mapping[str, Any] | None,
    client_action_id: str | None,
) -> Call[SubmittedAction]:
    """One ``client_action_id`` (made when none is given) for every retry: the extension gets the
    action once, however often it is sent."""
    body = {
        "action_id": action_id,
        "values": dict(values or {}),
        "client_action_id": client_action_id or uuid.uuid4().hex,
    }
    path = f"{_chat(chat_id)}/messages/{message_id}/actions"
    return Call(Request("POST", path, body=body), _model(SubmittedAction))


def change_settings(chat_id: str, changes: Mapping[str, Any]) -> Call[ChatOut]:
    patch = SettingsPatch.model_validate(dict(changes)).model_dump(exclude_none=True)
    return Call(Request("PATCH", f"{_chat(chat_id)}/settings", body=patch), _model(ChatOut))


def grant_turn(chat_id: str, participant_id: str) -> Call[ChatOut]:
    body = {"participant_id": participant_id}
    return Call(Request("POST", f"{_chat(chat_id)}/turn", body=body, idempotent=False), _model(ChatOut))


def complete_chat(chat_id: str) -> Call[ChatOut]:
    return Call(Request("POST", f"{_chat(chat_id)}/complete"), _model(ChatOut))


def list_events(chat_id: str, after: int | None, limit: int | None) -> Call[EventPage]:
    query = {"after": after, "limit": limit}
    return Call(Request("GET", f"{_chat(chat_id)}/events", query=query), _model(EventPage))


def list_extensions() -> Call[list[ExtensionDocument]]:
    return Call(Request("GET", "/extensions"), lambda r: ExtensionList.model_validate_json(r.body).items)


def list_installs(chat_id: str) -> Call[list[InstallOut]]:
    path = f"{_chat(chat_id)}/extensions"
    return Call(Request("GET", path), lambda r: InstallList.model_validate_json(r.body).items)


def get_install(chat_id: str, extension_id: str) -> Call[InstallOut]:
    return Call(Request("GET", f"{_chat(chat_id)}/extensions/{extension_id}"), _model(InstallOut))


def put_install(
    chat_id: str,
    extension_id: str,
    enabled: bool,
    config: Mapping[str, Any] | None,
    shadow: bool = False,
    shadow_config: Mapping[str, Any] | None = None,
) -> Call[InstallOut]:
    body: dict[str, Any] = {"enabled": enabled, "config": dict(config or {}), "shadow": shadow}
    if shadow_config is not None:
        body["shadow_config"] = dict(shadow_config)
    path = f"{_chat(chat_id)}/extensions/{extension_id}"
    return Call(Request("PUT", path, body=body), _model(InstallOut))


def uninstall(chat_id: str, extension_id: str) -> Call[None]:
    return Call(Request("DELETE", f"{_chat(chat_id)}/extensions/{extension_id}"), _nothing)


def chat_analytics(chat_id: str) -> Call[ChatAnalytics]:
    return Call(Request("GET", f"{_chat(chat_id)}/analytics"), _model(ChatAnalytics))


def chat_analytics_csv(chat_id: str) -> Call[str]:
    request = Request("GET", f"{_chat(chat_id)}/analytics", query={"format": "csv"}, accept="text/csv")
    return Call(request, _text)


def analytics_summary(first: date | None, last: date | None) -> Call[AnalyticsSummary]:
    query = {"from": first.isoformat() if first else None, "to": last.isoformat() if last else None}
    return Call(Request("GET", "/analytics/summary", query=query), _model(AnalyticsSummary))


def analytics_summary_csv(first: date | None, last: date | None) -> Call[str]:
    query = {
        "from": first.isoformat() if first else None,
        "to": last.isoformat() if last else None,
        "format": "csv",
    }
    return Call(Request("GET", "/analytics/summary", query=query, accept="text/csv"), _text)


def extension_usage(extension_id: str, day: date | None) -> Call[ExtensionUsage]:
    query = {"day": day.isoformat() if day else None}
    return Call(Request("GET", f"/extensions/{extension_id}/usage", query=query), _model(ExtensionUsage))


def extension_chats_usage(extension_id: str, day: date | None, limit: int) -> Call[ExtensionChatsUsage]:
    query = {"day": day.isoformat() if day else None, "limit": limit}
    path = f"/extensions/{extension_id}/usage/chats"
    return Call(Request("GET", path, query=query), _model(ExtensionChatsUsage))


def extension_chat_usage(extension_id: str, chat_id: str, day: date | None) -> Call[ExtensionChatUsage]:
    query = {"day": day.isoformat() if day else None}
    path = f"/extensions/{extension_id}/usage/chats/{chat_id}"
    return Call(Request("GET", path, query=query), _model(ExtensionChatUsage))


def create_ticket() -> Call[Ticket]:
    return Call(Request("POST", "/realtime/tickets"), _model(Ticket))
