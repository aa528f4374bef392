"""What the HTTP edge refuses before any route runs: bodies no route could read, and undeclared methods.

API Gateway hands the function whatever the client sent (any media type, any bytes, up to its own
payload limit); Powertools would answer some of it with a 500. These checks turn each case into a
typed error that ``parley.http.app`` maps to its 4xx, after the caller's identity was checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)

from parley.errors import ParleyError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

MAX_BODY_BYTES = 1024 * 1024
"""The API's request-body limit: five times the largest valid body (a 20,000-character message of
characters JSON writes as 12-byte escapes), and well under Lambda's 6 MB payload limit."""
MAX_JSON_DEPTH = 32
"""No request body nests deeper than a few levels; DynamoDB refuses items nested deeper than 32."""
JSON_MEDIA_TYPE = "application/json"


class MalformedJsonError(ParleyError):
    """The body is not UTF-8 JSON, or nests deeper than any request can."""

    code = "malformed_json"


class UnsupportedMediaTypeError(ParleyError):
    code = "unsupported_media_type"


class PayloadTooLargeError(ParleyError):
    code = "payload_too_large"


class MethodNotAllowedError(ParleyError):
    """The path exists but not with this method; ``allow`` lists the methods it has."""

    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: list[str]) -> None:
        super().__init__(message, allow=allow)
        self.allow = allow


def parse_json(text: str) -> Any:
    """The resolver's JSON reader: a body too deep for the parser is malformed, not a crash."""
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise MalformedJsonError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if _depth(document) > MAX_JSON_DEPTH:
        raise MalformedJsonError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    return document


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, level + 1) for child in children)
    return deepest


def media_type(event: APIGatewayProxyEventV2) -> str:
    header = event.headers.get("content-type") or ""
    return header.split(";", 1)[0].strip().lower()


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise MalformedJsonError("the request body is not valid base64") from exc


def check_body(event: APIGatewayProxyEventV2) -> None:
    """Refuse a body a JSON route cannot read: too large, another media type, or not UTF-8."""
    if not event.body:
        return  # a missing body is the route's own 422
    data = raw_body(event)
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"the request body is {len(data)} bytes; the API accepts at most {MAX_BODY_BYTES}",
            limit=MAX_BODY_BYTES,
        )
    kind = media_type(event)
    if kind and kind != JSON_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(
            f"send the body as {JSON_MEDIA_TYPE}, not {kind}", supported=[JSON_MEDIA_TYPE]
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJsonError("the request body is not UTF-8 text") from exc


class _CheckedRequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, preceded by the body checks on routes that take a body."""

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        if app.context["_route"].dependant.body_params:
            check_body(app.current_event)
        response: Response[Any] = super().handler(app, next_middleware)
        return response


class Resolver(APIGatewayHttpResolver):
    """The HTTP API resolver with validation on, the edge's body checks first, and JSON read safely."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=parse_json)
        # Powertools runs this middleware first on every route; ours checks the body, then delegates
        self._request_validation_middleware = _CheckedRequestValidation()  # type: ignore[no-untyped-call]

    def enable_swagger_when_asked(self, *, path: str, **options: Any) -> None:
        """Powertools' ``enable_swagger``, run on the page's first request instead of at import.

        It imports the OpenAPI document's models (about a third of a bare ``import boto3``), which
        no other route needs; every cold start paid for them, to serve a page few requests ask for.
        The page is Powertools' own (same route, same answers), only built later."""
        page: list[Callable[[], Response[Any]]] = []
        lock = threading.Lock()

        @self.get(path, include_in_schema=False)
        def swagger() -> Response[Any]:
            with lock:
                if not page:
                    page.append(self._swagger_page(path=path, **options))
            return page[0]()

    def _swagger_page(self, **options: Any) -> Callable[[], Response[Any]]:
        """The handler ``enable_swagger`` would register (it does so through ``self.get``)."""
        kept: list[Callable[[], Response[Any]]] = []

        def keep(rule: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            def register(handler: Callable[[], Response[Any]]) -> Callable[[], Response[Any]]:
                kept.append(handler)
                return handler

            return register

        self.get = keep  # type: ignore[method-assign]
        try:
            self.enable_swagger(**options)
        finally:
            del self.get
        return kept[0]

    def allowed_methods(self, path: str) -> list[str]:
        """The methods a path is served with (empty for an unknown path): the 405's ``Allow``."""
        routes = self._static_routes + self._dynamic_routes
        return sorted({route.method for route in routes if route.rule.match(path)})
