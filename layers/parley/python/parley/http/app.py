"""The HTTP API resolver: routers, OpenAPI and Swagger UI, and the mapping of errors to responses."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from parley.errors import (
    ChangeTooLargeError,
    ChatCompletedError,
    ChatFullError,
    ChatNotFoundError,
    ContentionError,
    ExtensionNotFoundError,
    ForbiddenError,
    InvalidRequestError,
    MessageNotFoundError,
    MessageRejectedError,
    MetricsUnavailableError,
    NotAuthenticatedError,
    NotYourTurnError,
    ParleyError,
    RateLimitedError,
)
from parley.http import routes
from parley.http.context import identity_of
from parley.http.contract import PUBLIC, SECURITY_SCHEMES, SIGNED_IN, finished, ok, responses
from parley.http.edge import (
    MalformedJsonError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    Resolver,
    UnsupportedMediaTypeError,
)
from parley.http.models import ErrorBody, ErrorResponse, Health
from parley.http.public import PUBLIC_PATHS
from parley.observability import logger

TITLE = "Parley HTTP API"
VERSION = "1.0.0"
JSON = "application/json"

STATUS: dict[type[ParleyError], int] = {
    NotAuthenticatedError: 401,
    ForbiddenError: 403,
    ChatNotFoundError: 404,
    ExtensionNotFoundError: 404,
    MessageNotFoundError: 404,
    ChatCompletedError: 409,
    NotYourTurnError: 409,
    ChatFullError: 409,
    MalformedJsonError: 400,
    MethodNotAllowedError: 405,
    PayloadTooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    InvalidRequestError: 422,
    ChangeTooLargeError: 413,
    MessageRejectedError: 422,
    RateLimitedError: 429,
    ContentionError: 503,
    MetricsUnavailableError: 503,
}

ROUTERS: tuple[str, ...] = tuple(sorted(m.name for m in pkgutil.iter_modules(routes.__path__)))
"""Every module of ``parley.http.routes`` holds one resource's ``router``: adding a module adds its
routes (to the Lambda, the OpenAPI document and, read from that, the CDK stack)."""

app = Resolver()
for _name in ROUTERS:
    app.include_router(importlib.import_module(f"{routes.__name__}.{_name}").router)
app.configure_openapi(title=TITLE, version=VERSION, security_schemes=SECURITY_SCHEMES, security=SIGNED_IN)
app.enable_swagger_when_asked(path="/docs", title=TITLE, version=VERSION, security_schemes=SECURITY_SCHEMES)


def _error(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=ErrorResponse(error=body).model_dump_json(),
        headers=headers or {},
    )


@app.get(
    "/health",
    summary="Liveness",
    operation_id="health",
    security=PUBLIC,
    responses=responses(ok(200, "The API is up"), {}, public=True),
)
def health() -> Health:
    return Health()


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[Any]:
    return Response(status_code=200, content_type=JSON, body=openapi_json())


def openapi_json() -> str:
    generated = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    return json.dumps(finished(generated), separators=(",", ":"))


EDGE_ERRORS = (MalformedJsonError, MethodNotAllowedError, PayloadTooLargeError, UnsupportedMediaTypeError)
"""Raised before the route reads the caller's identity: an anonymous caller still gets 401 first."""


def _anonymous() -> NotAuthenticatedError | None:
    """API Gateway's authorizer answers 401 before the function sees a request; so does the function."""
    event = app.current_event
    if event.path in PUBLIC_PATHS:
        return None
    try:
        identity_of(event.raw_event)
    except NotAuthenticatedError as anonymous:
        return anonymous
    return None


def refusal(exc: ParleyError) -> Response[Any]:
    """The one mapping of an expected error to its status, headers and error body."""
    if isinstance(exc, EDGE_ERRORS) and (anonymous := _anonymous()) is not None:
        exc = anonymous
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 500)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else {}
    if isinstance(exc, ContentionError):
        headers = {"Retry-After": "1"}
    if isinstance(exc, MethodNotAllowedError):
        headers = {"Allow": ", ".join(exc.allow)}
    fields = [{"field": exc.details["field"], "problem": exc.message}] if "field" in exc.details else []
    fields += list(exc.details.get("fields", []))
    details = {k: v for k, v in exc.details.items() if k not in ("field", "fields")}
    return _error(
        status, ErrorBody(code=exc.code, message=exc.message, details=details, fields=fields), headers
    )


@app.exception_handler(ParleyError)
def domain_error(exc: ParleyError) -> Response[Any]:
    return refusal(exc)


@app.exception_handler(RequestValidationError)
def validation_error(exc: RequestValidationError) -> Response[Any]:
    # Powertools validates before the route runs: an anonymous caller must still get 401, not 422
    if (anonymous := _anonymous()) is not None:
        return refusal(anonymous)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return refusal(MalformedJsonError("the request body is not valid JSON"))
    fields = [
        {
            "field": ".".join(str(part) for part in e.get("loc", ())),
            "problem": e.get("msg", "invalid"),
            "type": e.get("type", "invalid"),
        }
        for e in errors
    ]
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
    return _error(
        422, ErrorBody(code="validation_error", message=summary or "invalid request", fields=fields)
    )


@app.not_found
def not_found(exc: Exception) -> Response[Any]:
    event = app.current_event
    allowed = app.allowed_methods(event.path)
    if allowed:
        method = event.request_context.http.method.upper()
        if method == "OPTIONS" and event.headers.get("access-control-request-method"):
            # a browser's CORS preflight (no token: infra/production.py routes it around the
            # authorizer); API Gateway adds the CORS headers it is configured with to this 204
            return Response(status_code=204, body=None, headers={"Allow": ", ".join(allowed)})
        return refusal(
            MethodNotAllowedError(
                f"{event.path} does not take {method}; it takes {', '.join(allowed)}", allow=allowed
            )
        )
    return _error(404, ErrorBody(code="route_not_found", message="no such route"))


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return _error(500, ErrorBody(code="internal", message="something went wrong; it has been logged"))


__all__ = ["app", "openapi_json"]
