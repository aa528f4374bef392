"""Every message members see passes the chat's moderation hooks: AI replies and extension bots'
messages too, not only members' posts (on moto, with the shipped moderation extension)."""

from __future__ import annotations

from typing import Any

import pytest

from parley import root
from tests.support.api import Api, User
from tests.support.bus import Bus

ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}


@pytest.fixture(autouse=True)
def _fast_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    root.reset()


def install(api: Api, user: User, chat_id: str, extension_id: str, **config: Any) -> None:
    response = api.put(
        f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": True, "config": config}
    )
    assert response.status in (200, 201), response.text


def texts(api: Api, user: User, chat_id: str) -> list[tuple[str, str]]:
    items = api.get(f"/chats/{chat_id}/messages", user).json["items"]
    return [(m["sender_id"], m["text"]) for m in items]


def rulings(bus: Bus, chat_id: str) -> list[tuple[str, str]]:
    return [
        (e["detail"]["data"]["sender_id"], e["detail"]["data"]["action"])
        for e in bus.emitted()
        if e["detail-type"] == "MessageModerated" and e["detail"]["metadata"]["chat_id"] == chat_id
    ]


def test_an_ai_reply_is_redacted_by_the_chats_moderation(api: Api, bus: Bus, alice: User) -> None:
    # Given a chat whose moderation redacts "you said" (the local model's replies start with it)
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    install(api, alice, chat_id, "moderation", blocked_terms=["you said"], action="redact")

    # When Alice asks the Oracle
    api.send(alice, chat_id, "@Oracle what has keys?")
    bus.pump()

    # Then the stored reply is the redacted one, and the ruling is recorded for the AI as sender
    (mine, reply) = texts(api, alice, chat_id)
    assert mine == (alice.user_id, "@Oracle what has keys?")
    assert reply[0] == "oracle"
    assert reply[1].startswith("Alice, ***:")
    assert rulings(bus, chat_id) == [(alice.user_id, "allow"), ("oracle", "rewrite")]


def test_a_rejected_ai_reply_is_not_stored_and_ends_as_failed(api: Api, bus: Bus, alice: User) -> None:
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    install(api, alice, chat_id, "moderation", blocked_terms=["you said"], action="reject")

    api.send(alice, chat_id, "@Oracle what has keys?")
    bus.pump()

    assert [who for who, _ in texts(api, alice, chat_id)] == [alice.user_id]
    assert rulings(bus, chat_id) == [(alice.user_id, "allow"), ("oracle", "reject")]
    failed = [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == "AIResponseFailed"]
    assert [(f["participant_id"], f["reason"]) for f in failed] == [("oracle", "cancelled")]
    assert "Moderation rejected the message" in failed[0]["detail"]


@pytest.mark.parametrize(("action", "expected"), [("redact", [("ext:welcome", "*** Bob!")]), ("reject", [])])
def test_a_bot_message_passes_the_chats_moderation(
    api: Api, bus: Bus, alice: User, bob: User, action: str, expected: list[tuple[str, str]]
) -> None:
    # Given a chat with the welcome bot and a moderation that blocks "welcome"
    chat_id = api.create_chat(alice)["chat_id"]
    install(api, alice, chat_id, "welcome")
    install(api, alice, chat_id, "moderation", blocked_terms=["welcome"], action=action)

    # When Bob joins and the bot greets him
    api.post(f"/chats/{chat_id}/members", bob)
    bus.pump()

    # Then members see the greeting only as moderation left it, and the ruling is recorded
    assert texts(api, bob, chat_id) == expected
    assert rulings(bus, chat_id) == [("ext:welcome", "rewrite" if action == "redact" else "reject")]
    # and a refused bot message is settled, not retried into the gateway's dead-letter queue
    assert bus.raw_queue("extension_gateway") == []
    dlq = bus.provisioned.dlq_urls["extension_gateway"]
    assert bus.sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []
