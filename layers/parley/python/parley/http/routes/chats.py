"""/chats and a chat's membership, settings and life cycle."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.domain.model import MAX_PARTICIPANTS
from parley.http.context import correlation_id_of, identity_of
from parley.http.contract import SIGNED_IN, ChatId, no_content, ok, responses
from parley.http.models import (
    ChatList,
    ChatListItem,
    ChatOut,
    CreateChatRequest,
    GrantTurnRequest,
    SettingsPatch,
)
from parley.root import chat_service, inbox_service
from parley.services.chats import AIParticipantSpec

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

ChatsLimit = Annotated[int, Query(ge=1, le=200, description="Chats per page.")]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=64, description="The `next` of the previous page.")
]
CHAT = {"chat_id": "$response.body#/chat_id"}
CHAT_LINKS = {
    name: {"operationId": name, "parameters": CHAT}
    for name in (
        "get_chat",
        "join_chat",
        "leave_chat",
        "change_settings",
        "complete_chat",
        "grant_turn",
        "post_message",
        "list_messages",
        "list_events",
        "list_installs",
        "chat_analytics",
    )
}
"""Where a chat's id leads: every operation on the chat it names (schemathesis follows these)."""
BUSY = "The chat was too busy to change right now (`contention`): retry after `Retry-After` seconds."
COMPLETED = "The chat is completed and accepts no changes (`chat_completed`)."
MODERATORS = "The caller is a member but neither the owner nor a moderator (`forbidden`)."


@router.post(
    "/chats",
    summary="Create a chat; the caller becomes its owner",
    operation_id="create_chat",
    security=SIGNED_IN,
    responses=responses(
        ok(201, "The new chat", links=CHAT_LINKS),
        {
            422: "The body breaks the schema (`validation_error`), or a rule it cannot express "
            "(`invalid_request`): AI participant ids must be unique and differ from the caller's id."
        },
        body=True,
    ),
)
def create_chat(body: CreateChatRequest) -> Response[ChatOut]:
    raw = router.current_event.raw_event
    chat = chat_service().create_chat(
        identity_of(raw),
        title=body.title,
        turn_mode=body.turn_mode,
        ai_participants=[AIParticipantSpec(a.id, a.name, a.profile()) for a in body.ai_participants],
        settings=body.settings,
        correlation_id=correlation_id_of(raw),
    )
    return Response(status_code=201, body=ChatOut.of(chat), content_type="application/json")


@router.get(
    "/chats",
    summary="The caller's chats, with unread counts and each chat's latest message, paged",
    description="In chat id order, `limit` at a time; pass `next` as `cursor` for the next page. "
    "`unread`, `last_message` and `last_read_sequence` come from the chat head, which each public "
    "post's own write moves (counted once the post answers); a whisper is counted by the relay a "
    "moment after it is posted.",
    operation_id="list_chats",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "A page of the chats the caller is a member of"),
        {422: "`limit` or `cursor` breaks the schema (`validation_error`)."},
    ),
)
def list_chats(limit: ChatsLimit = 50, cursor: Cursor = None) -> ChatList:
    page = inbox_service().list_chats(identity_of(router.current_event.raw_event), limit=limit, cursor=cursor)
    items = [
        ChatListItem(
            **ChatOut.of(e.chat).model_dump(),
            unread=e.unread,
            last_message=e.last_message,
            last_read_sequence=e.last_read_sequence,
        )
        for e in page.items
    ]
    return ChatList(items=items, next=page.next)


@router.get(
    "/chats/<chat_id>",
    summary="A chat with its participants and turn state (members only)",
    operation_id="get_chat",
    security=SIGNED_IN,
    responses=responses(ok(200, "The chat"), {404: None, 422: "`chat_id` is not a chat id."}),
)
def get_chat(chat_id: ChatId) -> ChatOut:
    return ChatOut.of(chat_service().get_chat(identity_of(router.current_event.raw_event), chat_id))


@router.post(
    "/chats/<chat_id>/members",
    summary="Join the chat (joining twice is harmless)",
    description="Any signed-in user may join an active chat by its id.",
    operation_id="join_chat",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The chat, with the caller among its participants"),
        {
            403: "The caller's id is an AI participant's id in this chat (`forbidden`).",
            404: "No such chat (`chat_not_found`).",
            409: f"{COMPLETED} Or it holds {MAX_PARTICIPANTS} participants already (`chat_full`).",
            422: "`chat_id` is not a chat id.",
            503: BUSY,
        },
    ),
)
def join_chat(chat_id: ChatId) -> ChatOut:
    raw = router.current_event.raw_event
    chat = chat_service().join(identity_of(raw), chat_id, correlation_id=correlation_id_of(raw))
    return ChatOut.of(chat)


@router.delete(
    "/chats/<chat_id>/members/me",
    summary="Leave the chat",
    operation_id="leave_chat",
    security=SIGNED_IN,
    responses=responses(
        no_content("Left; the caller no longer sees the chat"),
        {404: None, 422: "`chat_id` is not a chat id.", 503: BUSY},
    ),
)
def leave_chat(chat_id: ChatId) -> Response[None]:
    raw = router.current_event.raw_event
    chat_service().leave(identity_of(raw), chat_id, correlation_id=correlation_id_of(raw))
    return Response(status_code=204, body=None)


@router.patch(
    "/chats/<chat_id>/settings",
    summary="Change settings or turn mode (owner and moderators)",
    operation_id="change_settings",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The chat with its new settings"),
        {403: MODERATORS, 404: None, 409: COMPLETED, 503: BUSY},
        body=True,
    ),
)
def change_settings(chat_id: ChatId, body: SettingsPatch) -> ChatOut:
    raw = router.current_event.raw_event
    chat = chat_service().change_settings(
        identity_of(raw), chat_id, body.changes(), correlation_id=correlation_id_of(raw)
    )
    return ChatOut.of(chat)


@router.post(
    "/chats/<chat_id>/complete",
    summary="Close the chat to new messages (owner and moderators)",
    description="Completing a completed chat again changes nothing.",
    operation_id="complete_chat",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The completed chat"),
        {403: MODERATORS, 404: None, 422: "`chat_id` is not a chat id.", 503: BUSY},
    ),
)
def complete_chat(chat_id: ChatId) -> ChatOut:
    raw = router.current_event.raw_event
    return ChatOut.of(
        chat_service().complete(identity_of(raw), chat_id, correlation_id=correlation_id_of(raw))
    )


@router.post(
    "/chats/<chat_id>/turn",
    summary="Give the floor to a member (moderated chats; owner and moderators)",
    description="Depends on the chat: only a `moderated` chat takes it, and only for one of its "
    "participants; otherwise 422 `invalid_request` names the field.",
    operation_id="grant_turn",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The chat, with the floor given"),
        {
            403: MODERATORS,
            404: None,
            409: COMPLETED,
            422: "The body breaks the schema (`validation_error`), or the chat is not moderated or "
            "`participant_id` is not one of its participants (`invalid_request`).",
            503: BUSY,
        },
        body=True,
    ),
)
def grant_turn(chat_id: ChatId, body: GrantTurnRequest) -> ChatOut:
    raw = router.current_event.raw_event
    chat = chat_service().grant_turn(
        identity_of(raw), chat_id, body.participant_id, correlation_id=correlation_id_of(raw)
    )
    return ChatOut.of(chat)
