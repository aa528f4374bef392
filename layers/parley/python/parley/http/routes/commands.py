"""The slash commands a chat's members may type (the composer's autocomplete)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.http.context import identity_of
from parley.http.contract import SIGNED_IN, ChatId, ok, responses
from parley.http.models import CommandInfo, CommandList
from parley.root import slash_commands

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.get(
    "/chats/<chat_id>/commands",
    summary="The slash commands of the chat's enabled extensions, by name",
    description="Each name once: a command answers to one enabled extension per chat. A post whose text "
    "starts with `/<name>` goes to that extension (POST /chats/{chat_id}/messages answers 202).",
    operation_id="list_commands",
    security=SIGNED_IN,
    responses=responses(ok(200, "The chat's commands"), {404: None, 422: "`chat_id` is not a chat id."}),
)
def list_commands(chat_id: ChatId) -> CommandList:
    found = slash_commands().available(identity_of(router.current_event.raw_event), chat_id)
    return CommandList(
        items=[
            CommandInfo(
                name=a.command.name,
                description=a.command.description,
                usage=a.command.usage,
                extension_id=a.extension_id,
            )
            for a in found
        ]
    )
