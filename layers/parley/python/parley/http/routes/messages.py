"""A chat's messages and its event log."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.domain.slash import unescaped
from parley.http.context import correlation_id_of, identity_of
from parley.http.contract import SIGNED_IN, UUID_PATTERN, ChatId, ok, responses
from parley.http.models import (
    AcceptedCommand,
    EventItem,
    EventPage,
    MessagePage,
    PostedMessage,
    PostMessageRequest,
    SubmitActionRequest,
    SubmittedAction,
)
from parley.realtime.frames import frame_of
from parley.root import chat_service, slash_commands
from parley.services.slash import CommandAccepted, NotACommand

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Sequence = Annotated[int | None, Query(ge=0, le=2**53 - 1, description="A message or event sequence number.")]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
PAGE_ERRORS: dict[int, str | None] = {
    404: None,
    422: "A query parameter or `chat_id` breaks the schema (`validation_error`).",
}


POSTED = ok(
    201,
    "The stored message (or, for a replayed `client_message_id`, the first one)",
    headers={
        "Idempotent-Replayed": {
            "description": "`true` when the answer is the first message of a retried key.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    },
    content={"application/json": {"model": PostedMessage}},
) | ok(
    202,
    "A slash command, sent to the extension that declares it; no message was stored",
    content={"application/json": {"model": AcceptedCommand}},
)
"""A post's answers: a message (201), or a slash command handed to its extension (202)."""


@router.post(
    "/chats/<chat_id>/messages",
    summary="Post a message; the same client_message_id again returns the first message",
    description="What the schema cannot say depends on the chat: its `settings.max_message_length` "
    "(4000 by default, at most the schema's 20000) and its rate limit (`rate_limit_messages` in "
    "`rate_limit_window_seconds`); in a turn-taking chat only the turn holder may post. A retry with the "
    "same `client_message_id` answers 201 with the first message and `Idempotent-Replayed: true`. "
    "A text that starts with `/<name>`, where `<name>` is a command of an extension enabled on the chat "
    "(GET /chats/{chat_id}/commands), is not a message: the extension gets it (SlashCommandInvoked) and "
    "the answer is 202 with its `command_id` (the same one for a retried `client_message_id`). Any other "
    "`/word` is posted as typed, and `//text` posts `/text`.",
    operation_id="post_message",
    security=SIGNED_IN,
    responses=responses(
        POSTED,
        {
            404: None,
            409: "The chat is completed (`chat_completed`), or it is not the caller's turn "
            "(`not_your_turn`, with `details.turn_holder_id`).",
            422: "The body breaks the schema (`validation_error`), the text is blank or longer than "
            "the chat's `max_message_length`, or `to` repeats an id or names a non-member "
            "(`invalid_request`, with `details.field`), or a moderation hook refused it "
            "(`message_rejected`), or a slash command's arguments do not parse (an unclosed quote) or "
            "are more than 20 (`invalid_request`, `details.field` `text`).",
            429: "Over the chat's rate limit (`rate_limited`: retry after `Retry-After` seconds), or "
            "throttled by the API's stage limits.",
            503: "The chat was too busy to change right now, or a slash command could not be sent "
            "(`contention`): retry after `Retry-After` seconds (with the same `client_message_id`).",
        },
        body=True,
    ),
)
def post_message(chat_id: ChatId, body: PostMessageRequest) -> Response[PostedMessage | AcceptedCommand]:
    raw = router.current_event.raw_event
    routed = _command(chat_id, body, raw)
    if isinstance(routed, CommandAccepted):
        command = AcceptedCommand(**vars(routed))
        return Response(status_code=202, body=command, content_type="application/json")
    result = chat_service().post_message(
        identity_of(raw),
        chat_id,
        text=unescaped(body.text),
        client_message_id=body.client_message_id,
        correlation_id=correlation_id_of(raw),
        to=body.to,
        origin_connection_id=body.origin_connection_id,
        preloaded=routed.read,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    frame = frame_of(result.stored) if result.stored is not None else None
    posted = PostedMessage(**result.message.model_dump(), frame=frame)
    return Response[PostedMessage | AcceptedCommand](
        status_code=201, body=posted, content_type="application/json", headers=headers
    )


def _command(chat_id: str, body: PostMessageRequest, raw: dict[str, Any]) -> CommandAccepted | NotACommand:
    """The post as a slash command handed to its extension, or a message (with the chat the check
    read, if it read it). A whisper is a message whatever it starts with."""
    if body.to is not None:
        return NotACommand()
    return slash_commands().invoke(
        identity_of(raw),
        chat_id,
        text=body.text,
        client_message_id=body.client_message_id,
        correlation_id=correlation_id_of(raw),
    )


@router.get(
    "/chats/<chat_id>/messages",
    summary="Messages in sequence order, paged",
    description="`after` and `before` select the messages strictly between them.",
    operation_id="list_messages",
    security=SIGNED_IN,
    responses=responses(ok(200, "A page of messages"), PAGE_ERRORS),
)
def list_messages(
    chat_id: ChatId, after: Sequence = None, before: Sequence = None, limit: Limit = 50
) -> MessagePage:
    page = chat_service().list_messages(
        identity_of(router.current_event.raw_event), chat_id, after=after, before=before, limit=limit
    )
    return MessagePage(items=page.items, next=page.next)


@router.get(
    "/chats/<chat_id>/events",
    summary="The chat's event log in sequence order, paged",
    operation_id="list_events",
    security=SIGNED_IN,
    responses=responses(ok(200, "A page of the event log"), PAGE_ERRORS),
)
def list_events(chat_id: ChatId, after: Sequence = None, limit: Limit = 100) -> EventPage:
    page = chat_service().list_events(
        identity_of(router.current_event.raw_event), chat_id, after=after, limit=limit
    )
    return EventPage(items=[EventItem.of(d) for d in page.items], next=page.next)


MessageId = Annotated[str, Path(pattern=UUID_PATTERN, max_length=36, description="The message's id.")]


@router.post(
    "/chats/<chat_id>/messages/<message_id>/actions",
    summary="Act on an extension's message: click a button, choose, submit a form, vote",
    description="Checked against the message's blocks as they are now: only its actions, values of the "
    "declared types and options, an open poll. Accepted, it is sent to the extension that posted the "
    "message (`InteractionSubmitted`), which may answer by updating the message (`MessageUpdated` on "
    "every viewer's socket). The same `client_action_id` again answers 202 with the first submission "
    "and sends nothing.",
    operation_id="submit_action",
    security=SIGNED_IN,
    responses=responses(
        ok(202, "Accepted: the extension gets it (a retried `client_action_id`: the first answer)"),
        {
            403: "The caller is a member but may not see the message (a whisper to others: `forbidden`).",
            404: "No such chat, or the caller is not a member (`chat_not_found`); or no message with "
            "blocks by that id in the chat (`message_not_found`).",
            409: "The chat is completed (`chat_completed`).",
            422: "The body breaks the schema (`validation_error`); the message has no such action or the "
            "values do not fit it (`invalid_action`, `details.field` names the bad one, e.g. "
            "`values.size`); the poll is closed (`poll_closed`); or the extension that posted the "
            "message is not enabled on the chat (`invalid_request`), or the `client_action_id` was used "
            "for another message (`invalid_request`, `details.field` `client_action_id`).",
            429: "Over the chat's rate limit, which actions share with posts (`rate_limited`: retry after "
            "`Retry-After` seconds), or throttled by the API's stage limits.",
            503: "The chat was too busy to change right now (`contention`): retry after `Retry-After` "
            "seconds.",
        },
        body=True,
    ),
)
def submit_action(
    chat_id: ChatId, message_id: MessageId, body: SubmitActionRequest
) -> Response[SubmittedAction]:
    raw = router.current_event.raw_event
    submission = chat_service().interactions.submit(
        identity_of(raw),
        chat_id,
        message_id,
        action_id=body.action_id,
        values=body.values,
        client_action_id=body.client_action_id,
        correlation_id=correlation_id_of(raw),
    )
    answer = SubmittedAction(submission_id=submission.submission_id, replayed=submission.replayed)
    return Response(status_code=202, body=answer, content_type="application/json")
