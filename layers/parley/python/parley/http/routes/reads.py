"""/chats/{chat_id}/read: the caller's read marker (the inbox read model)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.http.context import identity_of
from parley.http.contract import SIGNED_IN, ChatId, ok, responses
from parley.http.models import ReadOut, ReadRequest
from parley.root import inbox_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.post(
    "/chats/<chat_id>/read",
    summary="Mark the chat read up to a message sequence (forward only)",
    description="The caller's marker moves forward, never back; a sequence past the chat's last "
    "message stops at it. On a move, the caller's own sockets subscribed to the chat get a "
    "`ReadMarkerMoved` frame (other members get nothing).",
    operation_id="mark_read",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The caller's marker and unread count after the call"),
        {404: None, 422: "The body breaks the schema, or `chat_id` is not a chat id (`validation_error`)."},
        body=True,
    ),
)
def mark_read(chat_id: ChatId, body: ReadRequest) -> ReadOut:
    result = inbox_service().mark_read(identity_of(router.current_event.raw_event), chat_id, body.sequence)
    return ReadOut(
        chat_id=result.chat_id,
        last_read_sequence=result.last_read_sequence,
        unread=result.unread,
        moved=result.moved,
    )
