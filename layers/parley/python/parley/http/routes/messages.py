"""A chat's messages and its event log."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.catalog import MessageView
from parley.http.context import correlation_id_of, identity_of
from parley.http.models import EventItem, EventPage, MessagePage, PostMessageRequest
from parley.root import chat_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Sequence = Annotated[int | None, Query(ge=0, description="A message or event sequence number.")]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "/chats/<chat_id>/messages",
    summary="Post a message; the same client_message_id again returns the first message",
    responses={201: {}},
)
def post_message(chat_id: str, body: PostMessageRequest) -> Response[MessageView]:
    raw = router.current_event.raw_event
    result = chat_service().post_message(
        identity_of(raw),
        chat_id,
        text=body.text,
        client_message_id=body.client_message_id,
        correlation_id=correlation_id_of(raw),
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(status_code=201, body=result.message, content_type="application/json", headers=headers)


@router.get("/chats/<chat_id>/messages", summary="Messages in sequence order, paged")
def list_messages(
    chat_id: str, after: Sequence = None, before: Sequence = None, limit: Limit = 50
) -> MessagePage:
    page = chat_service().list_messages(
        identity_of(router.current_event.raw_event), chat_id, after=after, before=before, limit=limit
    )
    return MessagePage(items=page.items, next=page.next)


@router.get("/chats/<chat_id>/events", summary="The chat's event log in sequence order, paged")
def list_events(chat_id: str, after: Sequence = None, limit: Limit = 100) -> EventPage:
    page = chat_service().list_events(
        identity_of(router.current_event.raw_event), chat_id, after=after, limit=limit
    )
    return EventPage(items=[EventItem.of(d) for d in page.items], next=page.next)
