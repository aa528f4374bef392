"""/chats and a chat's membership, settings and life cycle."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.http.context import correlation_id_of, identity_of
from parley.http.models import ChatList, ChatOut, CreateChatRequest, GrantTurnRequest, SettingsPatch
from parley.root import chat_service
from parley.services.chats import AIParticipantSpec

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.post("/chats", summary="Create a chat; the caller becomes its owner", responses={201: {}})
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


@router.get("/chats", summary="The caller's chats")
def list_chats() -> ChatList:
    chats = chat_service().list_my_chats(identity_of(router.current_event.raw_event))
    return ChatList(items=[ChatOut.of(c) for c in chats])


@router.get("/chats/<chat_id>", summary="A chat with its participants and turn state (members only)")
def get_chat(chat_id: str) -> ChatOut:
    return ChatOut.of(chat_service().get_chat(identity_of(router.current_event.raw_event), chat_id))


@router.post("/chats/<chat_id>/members", summary="Join the chat (joining twice is harmless)")
def join_chat(chat_id: str) -> ChatOut:
    raw = router.current_event.raw_event
    chat = chat_service().join(identity_of(raw), chat_id, correlation_id=correlation_id_of(raw))
    return ChatOut.of(chat)


@router.delete("/chats/<chat_id>/members/me", summary="Leave the chat", responses={204: {}})
def leave_chat(chat_id: str) -> Response[None]:
    raw = router.current_event.raw_event
    chat_service().leave(identity_of(raw), chat_id, correlation_id=correlation_id_of(raw))
    return Response(status_code=204, body=None)


@router.patch("/chats/<chat_id>/settings", summary="Change settings or turn mode (owner and moderators)")
def change_settings(chat_id: str, body: SettingsPatch) -> ChatOut:
    raw = router.current_event.raw_event
    chat = chat_service().change_settings(
        identity_of(raw), chat_id, body.changes(), correlation_id=correlation_id_of(raw)
    )
    return ChatOut.of(chat)


@router.post("/chats/<chat_id>/complete", summary="Close the chat to new messages (owner and moderators)")
def complete_chat(chat_id: str) -> ChatOut:
    raw = router.current_event.raw_event
    return ChatOut.of(
        chat_service().complete(identity_of(raw), chat_id, correlation_id=correlation_id_of(raw))
    )


@router.post(
    "/chats/<chat_id>/turn",
    summary="Give the floor to a member (moderated chats; owner and moderators)",
)
def grant_turn(chat_id: str, body: GrantTurnRequest) -> ChatOut:
    raw = router.current_event.raw_event
    chat = chat_service().grant_turn(
        identity_of(raw), chat_id, body.participant_id, correlation_id=correlation_id_of(raw)
    )
    return ChatOut.of(chat)
