"""Rows of the event log written before events were packed (issue 15) read as they did: GET events,
GET messages (history) and the local replay's log window answer the same for either format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from parley.adapters.replay import LogWindow
from parley.adapters.tables import EventRecord
from parley.settings import settings
from tests.support.api import Api, User


def _answers(api: Api, user: User, chat_id: str) -> tuple[Any, Any, list[dict[str, Any]]]:
    events = api.get(f"/chats/{chat_id}/events", user).json
    messages = api.get(f"/chats/{chat_id}/messages", user).json
    now = datetime.now(UTC)
    window = [
        d for d in LogWindow().details(now - timedelta(hours=1), now) if d["metadata"]["chat_id"] == chat_id
    ]
    return events, messages, window


def _to_old_format(chat_id: str) -> int:
    """Rewrite every row of the chat as the code before ``body`` wrote it; how many were packed."""
    client = boto3.client("dynamodb", region_name=settings().region)
    table = settings().events_table
    rewritten = 0
    for record in EventRecord.query(chat_id, consistent_read=True):
        if record.body is None:
            continue
        detail = record.detail_json()
        metadata = json.loads(detail)["metadata"]
        item: dict[str, Any] = {
            "chat_id": {"S": chat_id},
            "sequence": {"N": str(record.sequence)},
            "event_type": {"S": record.event_type},
            "detail": {"S": detail},
            "event_id": {"S": metadata["event_id"]},
            "occurred_at": {"S": datetime.fromisoformat(metadata["occurred_at"]).isoformat()},
        }
        client.put_item(TableName=table, Item=item)
        rewritten += 1
    return rewritten


def test_rows_in_the_older_format_read_as_the_packed_ones(api: Api, alice: User, bob: User) -> None:
    # Given a chat with posts (a whisper among them), answered from packed rows
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    for n in range(3):
        assert api.send(alice, chat_id, f"post {n} " + "words " * 30).status == 201
    assert api.send(bob, chat_id, "just for you", to=[alice.user_id]).status == 201
    packed = _answers(api, alice, chat_id)
    assert len(packed[0]["items"]) >= 6
    assert len(packed[1]["items"]) == 4

    # When every row is rewritten in the format written before
    assert _to_old_format(chat_id) == len(packed[0]["items"])

    # Then every reader answers exactly as before
    assert _answers(api, alice, chat_id) == packed
