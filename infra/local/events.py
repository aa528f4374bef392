"""The events API Gateway hands to Lambda: HTTP API payload v2, and the WebSocket API's.

One builder for the local gateway and the tests, so both feed the handlers what AWS feeds them.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from infra.local.dispatch import LOCAL_ACCOUNT

API_ID = "local"
STAGE = "local"


def _clf_time(now: datetime) -> str:
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000")


def http_api_event(
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    raw_query: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    claims: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event; ``claims`` as the JWT authorizer passes them."""
    now = datetime.now(UTC)
    header_map = {k.lower(): v for k, v in (headers or {}).items()}
    request_context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT,
        "apiId": API_ID,
        "domainName": header_map.get("host", "127.0.0.1"),
        "domainPrefix": "127",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": header_map.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": _clf_time(now),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    encoded = False
    text: str | None
    if body is None or body == b"" or body == "":
        text = None
    elif isinstance(body, str):
        text = body
    else:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    params = dict(query or {})
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query if raw_query is not None else urlencode(params),
        "headers": header_map,
        "queryStringParameters": params or None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": encoded,
    }


def websocket_event(
    route_key: str,
    connection_id: str,
    *,
    body: str | None = None,
    authorizer: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    connected_at_ms: int | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A WebSocket API proxy event for $connect, $disconnect or an action route."""
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
    now_ms = int(time.time() * 1000)
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "connectionId": connection_id,
        "requestId": str(uuid.uuid4()),
        "extendedRequestId": str(uuid.uuid4()),
        "messageDirection": "IN",
        "stage": STAGE,
        "apiId": API_ID,
        "domainName": "127.0.0.1",
        "connectedAt": connected_at_ms or now_ms,
        "requestTimeEpoch": now_ms,
        "identity": {"sourceIp": source_ip},
    }
    if event_type == "MESSAGE":
        context["messageId"] = str(uuid.uuid4())
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if body is not None:
        event["body"] = body
    if event_type == "CONNECT":
        event["headers"] = dict(headers or {})
        event["queryStringParameters"] = dict(query) if query else None
    return event


def authorizer_event(
    connection_id: str, *, query: Mapping[str, str], headers: Mapping[str, str]
) -> dict[str, Any]:
    """The REQUEST authorizer event API Gateway sends for a WebSocket $connect."""
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:{LOCAL_ACCOUNT}:{API_ID}/{STAGE}/$connect",
        "headers": dict(headers),
        "queryStringParameters": dict(query) or None,
        "requestContext": websocket_event("$connect", connection_id)["requestContext"],
    }
