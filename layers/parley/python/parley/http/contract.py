"""What the OpenAPI document promises beyond the models: each operation's statuses, who may call it,
and the shape of the ids in its path. Routes declare their answers here, so the document is the whole
truth that schemathesis holds the running API to (tests/e2e/test_openapi_fuzz.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from parley.extensions.manifest import ID_PATTERN
from parley.http.edge import MAX_BODY_BYTES, MAX_JSON_DEPTH
from parley.http.models import ErrorResponse

JSON = "application/json"
BEARER = "bearerAuth"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Cognito ID token (locally: POST /local/token). "
        "Every operation but /health needs it.",
    }
}
"""Plain data, not Powertools' ``HTTPBearer``: the document validates it into the same model when it
is generated, and the api's cold start skips importing the OpenAPI document's models."""
SIGNED_IN: list[dict[str, list[str]]] = [{BEARER: []}]
PUBLIC: list[dict[str, list[str]]] = [{}]
"""An empty requirement: the operation takes no token (OpenAPI's way to lift the document-wide one)."""

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ChatId = Annotated[
    str, Path(pattern=UUID_PATTERN, max_length=36, description="The chat's id, as POST /chats returned it.")
]
ExtensionId = Annotated[
    str,
    Path(pattern=ID_PATTERN, max_length=40, description="A registered extension's id (GET /extensions)."),
]


class GatewayMessage(BaseModel):
    """What API Gateway itself answers before the function runs (the authorizer's 401, throttling's 429)."""

    model_config = ConfigDict(defer_build=True)

    message: str = Field(examples=["Unauthorized"])


GATEWAY_OR_ERROR = ErrorResponse | GatewayMessage

ERRORS: dict[int, str] = {
    400: f"The body is not UTF-8 JSON, or nests deeper than {MAX_JSON_DEPTH} levels (`malformed_json`).",
    401: 'No valid bearer token: API Gateway\'s authorizer answers `{"message": "Unauthorized"}`; '
    "a token without a subject gets `not_authenticated`. Checked before anything else.",
    403: "The caller is a member but may not do this (`forbidden`).",
    404: "No such chat, or the caller is not a member of it (`chat_not_found`): outsiders learn nothing, "
    "not even whether it exists.",
    409: "The chat is completed and accepts no changes (`chat_completed`).",
    413: f"The body is over the API's limit of {MAX_BODY_BYTES} bytes (`payload_too_large`).",
    415: f"The body is not `{JSON}` (`unsupported_media_type`).",
    422: "The request breaks the schema (`validation_error`); `error.fields` names each bad field.",
    429: 'Throttled by the API\'s stage limits (API Gateway answers `{"message": "Too Many Requests"}`).',
    503: "The chat was too busy to change right now (`contention`): retry after `Retry-After` seconds.",
}
BODY_ERRORS = (400, 413, 415, 422)
GATEWAY_ANSWERS = frozenset({401, 429})


def _error(status: int, description: str) -> OpenAPIResponse:
    model: Any = GATEWAY_OR_ERROR if status in GATEWAY_ANSWERS else ErrorResponse
    response: OpenAPIResponse = {"description": description, "content": {JSON: {"model": model}}}
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return response


def responses(
    ok: Mapping[int, OpenAPIResponse],
    errors: Mapping[int, str | None],
    *,
    body: bool = False,
    public: bool = False,
) -> dict[int, OpenAPIResponse]:
    """An operation's answers: its successes, then every error status it can return, each with the
    error schema. ``None`` takes the generic description; signed-in operations add 401, and those
    that read a JSON body add 400, 413, 415 and 422; every operation may be throttled (429)."""
    wanted: dict[int, str | None] = {429: None}
    if not public:
        wanted[401] = None
    if body:
        wanted.update(dict.fromkeys(BODY_ERRORS))
    wanted.update(errors)
    answers = dict(ok)
    for status in sorted(wanted):
        answers[status] = _error(status, wanted[status] or ERRORS[status])
    return answers


def ok(status: int, description: str, **extra: Any) -> dict[int, OpenAPIResponse]:
    """One success answer whose body is the route's return model (``content`` or ``links`` in ``extra``)."""
    response: Any = {"description": description, **extra}
    return {status: response}


def no_content(description: str) -> dict[int, OpenAPIResponse]:
    """A 204: no body, and no media type to promise one."""
    return {204: {"description": description, "content": {}}}


POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
"""Powertools adds a 422 of its own shape to every operation; ours declare the 422 they can return."""


def finished(document: dict[str, Any]) -> dict[str, Any]:
    """The generated document without Powertools' default 422s (operations with no input cannot
    return one, and the others declare theirs with the error schema) or the schemas only they used."""
    ref = "#/components/schemas/HTTPValidationError"
    for item in document.get("paths", {}).values():
        for operation in item.values():
            answers = operation.get("responses", {})
            default = answers.get("422", {}).get("content", {}).get(JSON, {}).get("schema", {})
            if default.get("$ref") == ref:
                del answers["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in POWERTOOLS_SCHEMAS:
        schemas.pop(name, None)
    return document
