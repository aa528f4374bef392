"""The extension registry and a chat's extension installs."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.http.context import correlation_id_of, identity_of
from parley.http.models import ExtensionList, InstallList, InstallOut, PutInstallRequest
from parley.root import extension_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.get("/extensions", summary="Every registered extension: manifest, capabilities and config schema")
def list_extensions() -> ExtensionList:
    identity_of(router.current_event.raw_event)  # signed-in callers only
    return ExtensionList(items=extension_service().registered())


@router.get("/chats/<chat_id>/extensions", summary="The extensions installed on a chat (members)")
def list_installs(chat_id: str) -> InstallList:
    installs = extension_service().installs(identity_of(router.current_event.raw_event), chat_id)
    return InstallList(items=[InstallOut.of(i) for i in installs])


@router.get(
    "/chats/<chat_id>/extensions/<extension_id>", summary="One extension's install on a chat (members)"
)
def get_install(chat_id: str, extension_id: str) -> InstallOut:
    raw = router.current_event.raw_event
    return InstallOut.of(extension_service().install(identity_of(raw), chat_id, extension_id))


@router.put(
    "/chats/<chat_id>/extensions/<extension_id>",
    summary="Install, configure, enable or disable an extension on a chat (owner and moderators)",
    description="The config is validated against the extension's JSON Schema; 422 names each bad field. "
    "Enabling an extension whose circuit opened closes it again.",
    responses={201: {}},
)
def put_install(chat_id: str, extension_id: str, body: PutInstallRequest) -> Response[InstallOut]:
    raw = router.current_event.raw_event
    result = extension_service().put(
        identity_of(raw),
        chat_id,
        extension_id,
        enabled=body.enabled,
        config=body.config,
        correlation_id=correlation_id_of(raw),
    )
    return Response(
        status_code=201 if result.created else 200,
        body=InstallOut.of(result.install),
        content_type="application/json",
    )


@router.delete(
    "/chats/<chat_id>/extensions/<extension_id>",
    summary="Uninstall an extension and forget its config (owner and moderators)",
    responses={204: {}},
)
def uninstall(chat_id: str, extension_id: str) -> Response[None]:
    raw = router.current_event.raw_event
    extension_service().uninstall(
        identity_of(raw), chat_id, extension_id, correlation_id=correlation_id_of(raw)
    )
    return Response(status_code=204, body=None)
