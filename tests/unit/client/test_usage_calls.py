"""The client's operators' usage calls: the path and query each sends, and the server's model back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

from parley_client import Client
from parley_client._http import Response
from parley_client.models import ExtensionChatsUsage, ExtensionChatUsage

CHAT = "3b3747f7-d910-40d0-a043-44f76b66b11e"
DAY = date(2026, 12, 1)
ONE = ExtensionChatUsage(
    extension_id="moderation",
    chat_id=CHAT,
    day=DAY,
    events=2,
    hook_calls=3,
    invocations=5,
    writes=3,
    writes_by_type={"MessageModerated": 3},
    estimated_usd=0.000005,
    truncated=False,
    last_sequence=9,
    final=True,
)


class Transport:
    def __init__(self, body: object) -> None:
        self.body = body
        self.urls: list[str] = []

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        self.urls.append(f"{method} {url}")
        return Response(200, {"content-type": "application/json"}, json.dumps(self.body).encode())


def test_one_chats_usage_of_a_day() -> None:
    transport = Transport(ONE.model_dump(mode="json"))
    usage = Client("http://fake", token="tok", transport=transport).extension_chat_usage(
        "moderation", CHAT, day=DAY
    )
    assert usage == ONE
    assert transport.urls == [f"GET http://fake/extensions/moderation/usage/chats/{CHAT}?day=2026-12-01"]


def test_the_days_costliest_chats() -> None:
    listed = ExtensionChatsUsage(
        extension_id="moderation", day=DAY, items=[ONE], active_chats=4, folded=4, truncated=False
    )
    transport = Transport(listed.model_dump(mode="json"))
    client = Client("http://fake", token="tok", transport=transport)
    assert client.extension_chats_usage("moderation", day=DAY, limit=5) == listed
    assert transport.urls == ["GET http://fake/extensions/moderation/usage/chats?day=2026-12-01&limit=5"]
