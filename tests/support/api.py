"""Invoke the api Lambda with API Gateway HTTP API (payload v2) events, as the JWT authorizer would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local.dispatch import LambdaContext
from infra.local.events import http_api_event
from infra.local.functions import load_handler
from parley.adapters.tables import IdempotencyRecord


@dataclass(frozen=True)
class User:
    user_id: str
    name: str

    @property
    def claims(self) -> dict[str, str]:
        return {"sub": self.user_id, "name": self.name}


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str
    json: Any = field(default=None)


def http_event(
    method: str,
    path: str,
    *,
    user: User | None = None,
    body: Any = None,
    raw_body: bytes | str | None = None,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    # bytes that are not UTF-8 travel base64-encoded, as API Gateway sends them
    return http_api_event(
        method,
        path,
        query={k: str(v) for k, v in (query or {}).items() if v is not None},
        headers={"content-type": "application/json", "user-agent": "pytest", **(headers or {})},
        body=text,
        claims=user.claims if user else None,
    )


class Api:
    """A tiny client over the real api handler (Powertools resolver and all)."""

    def __init__(self) -> None:
        self._handler = load_handler("api")

    def call(self, method: str, path: str, user: User | None = None, **kwargs: Any) -> ApiResponse:
        result = self._handler(
            http_event(method, path, user=user, **kwargs), LambdaContext.for_function("api")
        )
        text = result.get("body") or ""
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        parsed = (
            json.loads(text)
            if text and headers.get("content-type", "").startswith("application/json")
            else None
        )
        return ApiResponse(result["statusCode"], headers, text, parsed)

    def get(self, path: str, user: User | None = None, **kwargs: Any) -> ApiResponse:
        return self.call("GET", path, user, **kwargs)

    def post(self, path: str, user: User | None = None, **kwargs: Any) -> ApiResponse:
        return self.call("POST", path, user, **kwargs)

    def patch(self, path: str, user: User | None = None, **kwargs: Any) -> ApiResponse:
        return self.call("PATCH", path, user, **kwargs)

    def put(self, path: str, user: User | None = None, **kwargs: Any) -> ApiResponse:
        return self.call("PUT", path, user, **kwargs)

    def delete(self, path: str, user: User | None = None, **kwargs: Any) -> ApiResponse:
        return self.call("DELETE", path, user, **kwargs)

    # the common steps of a scenario
    def create_chat(self, user: User, **body: Any) -> dict[str, Any]:
        response = self.post("/chats", user, body={"title": "Test chat", "turn_mode": "free", **body})
        assert response.status == 201, response.text
        chat: dict[str, Any] = response.json
        return chat

    def send(self, user: User, chat_id: str, text: str, **body: Any) -> ApiResponse:
        return self.post(f"/chats/{chat_id}/messages", user, body={"text": text, **body})


def assert_error(response: ApiResponse, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is the documented error shape: {"error": {"code", "message", "fields": [...]}}."""
    assert response.status < 500, response.text
    assert response.status == status, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    assert isinstance(response.json, dict), response.text
    assert set(response.json) == {"error"}, response.text
    error: dict[str, Any] = response.json["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str), error
    assert error["message"].strip(), error
    assert isinstance(error["fields"], list), error
    for entry in error["fields"]:
        assert isinstance(entry["field"], str), entry
        assert isinstance(entry["problem"], str), entry
    if field is not None:
        assert any(field in entry["field"] for entry in error["fields"]), error
    return error


def expire_idempotency_records(after: timedelta) -> int:
    """Do what DynamoDB's TTL does once ``after`` has passed (moto never expires items): delete
    every idempotency record whose expiry is by then behind us. Returns how many went."""
    cutoff = datetime.now(UTC) + after
    gone = [r for r in IdempotencyRecord.scan() if r.expiration is not None and r.expiration < cutoff]
    for record in gone:
        record.delete()
    return len(gone)
