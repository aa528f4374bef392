"""The workflows extension over the API: save a chat's workflows, read what they did."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, User


def save(api: Api, user: User, chat_id: str, *definitions: dict[str, Any]) -> Any:
    return api.put(
        f"/chats/{chat_id}/extensions/workflows",
        user,
        body={"enabled": True, "config": {"workflows": list(definitions)}},
    )


def texts(api: Api, user: User, chat_id: str) -> list[str]:
    return [m["text"] for m in api.get(f"/chats/{chat_id}/messages", user).json["items"]]


def log(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200})
    assert response.status == 200, response.text
    items: list[dict[str, Any]] = response.json["items"]
    return items


def runs(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in log(api, user, chat_id) if e["metadata"]["event_type"] == "WorkflowRun"]
