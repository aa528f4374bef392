"""The extension registry and a chat's extension installs."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.domain.model import MAX_CONFIG_BYTES, MAX_INSTALLS
from parley.http.context import correlation_id_of, identity_of
from parley.http.contract import SIGNED_IN, ChatId, ExtensionId, no_content, ok, responses
from parley.http.models import ExtensionList, InstallList, InstallOut, PutInstallRequest
from parley.root import extension_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

INSTALL_LINKS = {
    name: {
        "operationId": name,
        "parameters": {"chat_id": "$request.path.chat_id", "extension_id": "$response.body#/extension_id"},
    }
    for name in ("get_install", "uninstall")
}
MODERATORS = "The caller is a member but neither the owner nor a moderator (`forbidden`)."
BUSY = "The chat was too busy to change right now (`contention`): retry after `Retry-After` seconds."
NOT_INSTALLED = (
    "No such chat or not a member (`chat_not_found`), or the extension is not installed on it "
    "(`extension_not_found`)."
)


@router.get(
    "/extensions",
    summary="Every registered extension: manifest, capabilities and config schema",
    operation_id="list_extensions",
    security=SIGNED_IN,
    responses=responses(ok(200, "The registry"), {}),
)
def list_extensions() -> ExtensionList:
    identity_of(router.current_event.raw_event)  # signed-in callers only
    return ExtensionList(items=extension_service().registered())


@router.get(
    "/chats/<chat_id>/extensions",
    summary="The extensions installed on a chat (members)",
    operation_id="list_installs",
    security=SIGNED_IN,
    responses=responses(ok(200, "The chat's installs"), {404: None, 422: "`chat_id` is not a chat id."}),
)
def list_installs(chat_id: ChatId) -> InstallList:
    installs = extension_service().installs(identity_of(router.current_event.raw_event), chat_id)
    return InstallList(items=[InstallOut.of(i) for i in installs])


@router.get(
    "/chats/<chat_id>/extensions/<extension_id>",
    summary="One extension's install on a chat (members)",
    operation_id="get_install",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The install (secret settings redacted)"),
        {404: NOT_INSTALLED, 422: "`chat_id` or `extension_id` breaks its pattern (`validation_error`)."},
    ),
)
def get_install(chat_id: ChatId, extension_id: ExtensionId) -> InstallOut:
    raw = router.current_event.raw_event
    return InstallOut.of(extension_service().install(identity_of(raw), chat_id, extension_id))


@router.put(
    "/chats/<chat_id>/extensions/<extension_id>",
    summary="Install, configure, enable or disable an extension on a chat (owner and moderators)",
    description="`config` depends on the extension: it is validated against that extension's "
    "`config_schema` (GET /extensions), and 422 `invalid_config` names each bad field. "
    "Enabling an extension whose circuit opened closes it again. `shadow` runs it without applying "
    "what it does; `shadow_config` has its hooks also rule with a second config (both recorded as "
    "ExtensionShadowOutput for moderators).",
    operation_id="put_install",
    security=SIGNED_IN,
    responses=responses(
        {
            **ok(200, "The install, changed", links=INSTALL_LINKS),
            **ok(201, "The install, new", links=INSTALL_LINKS),
        },
        {
            403: MODERATORS,
            404: "No such chat or not a member (`chat_not_found`), or no such extension is registered "
            "(`extension_not_found`).",
            409: "The chat is completed and accepts no changes (`chat_completed`).",
            422: "The body or a path id breaks the schema (`validation_error`), or `config` breaks the "
            f"extension's `config_schema` or would take the chat's configs past {MAX_CONFIG_BYTES} bytes "
            f"together (`invalid_config`), or the chat holds {MAX_INSTALLS} extensions already, or "
            "enabling it would give a slash command a second enabled extension here (`invalid_request`, "
            "`details.field` `enabled`).",
            503: BUSY,
        },
        body=True,
    ),
)
def put_install(chat_id: ChatId, extension_id: ExtensionId, body: PutInstallRequest) -> Response[InstallOut]:
    raw = router.current_event.raw_event
    result = extension_service().put(
        identity_of(raw),
        chat_id,
        extension_id,
        enabled=body.enabled,
        config=body.config,
        correlation_id=correlation_id_of(raw),
        shadow=body.shadow,
        shadow_config=body.shadow_config,
    )
    return Response(
        status_code=201 if result.created else 200,
        body=InstallOut.of(result.install),
        content_type="application/json",
    )


@router.delete(
    "/chats/<chat_id>/extensions/<extension_id>",
    summary="Uninstall an extension and forget its config (owner and moderators)",
    operation_id="uninstall",
    security=SIGNED_IN,
    responses=responses(
        no_content("Uninstalled (also when it was not installed)"),
        {
            403: MODERATORS,
            404: None,
            422: "`chat_id` or `extension_id` breaks its pattern (`validation_error`).",
            503: BUSY,
        },
    ),
)
def uninstall(chat_id: ChatId, extension_id: ExtensionId) -> Response[None]:
    raw = router.current_event.raw_event
    extension_service().uninstall(
        identity_of(raw), chat_id, extension_id, correlation_id=correlation_id_of(raw)
    )
    return Response(status_code=204, body=None)
