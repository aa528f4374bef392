"""A runaway extension's bot is bounded per chat: over its rate (or all bots' together) a message is
refused and recorded as ExtensionEventRejected `rate_limited`, on moto with the real gateway."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from parley.catalog import Envelope
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered


def chatter(extension_id: str, per_event: int) -> Extension[Any]:
    """A bot that answers every post with several messages."""
    ext: Extension[Any] = Extension(
        Manifest(
            id=extension_id,
            version="1.0.0",
            name=extension_id.title(),
            description="Talks too much.",
            events=("MessageStored",),
            capabilities=frozenset({"messages:write"}),
        )
    )

    @ext.on("MessageStored")
    def talk(event: Envelope[Any], ctx: Context[Any]) -> None:
        if event.data.message.sender_kind == "human":
            for n in range(per_event):
                ctx.post_message(f"{extension_id} says {n}")

    return ext


def start_of_a_minute() -> None:
    """The limits count per calendar minute: run the test well inside one, never across two."""
    second = datetime.now(UTC).second
    if second >= 45:
        time.sleep(61 - second)


def test_bots_over_their_rates_are_refused_and_recorded(api: Api, bus: Bus, alice: User) -> None:
    loud, louder = chatter("loud", 3), chatter("louder", 3)
    start_of_a_minute()
    with registered(loud, louder):
        # Given a chat where each bot may post 2 messages a minute, and all bots 3
        chat_id = api.create_chat(alice)["chat_id"]
        patch = {"extension_messages_per_minute": 2, "extension_messages_per_minute_total": 3}
        assert api.patch(f"/chats/{chat_id}/settings", alice, body=patch).status == 200
        for extension_id in ("loud", "louder"):
            body = {"enabled": True, "config": {}}
            assert api.put(f"/chats/{chat_id}/extensions/{extension_id}", alice, body=body).status == 201

        # When Alice posts and each bot tries to answer three times
        api.send(alice, chat_id, "hello bots")
        events = bus.emitted()
        deliver(loud, events, **{"detail-type": "MessageStored"})
        deliver(louder, events, **{"detail-type": "MessageStored"})
        bus.pump()

    # Then loud got its 2, louder only the 1 left of the chat's 3, and each refusal is recorded
    items = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
    assert [m["text"] for m in items] == ["hello bots", "loud says 0", "loud says 1", "louder says 0"]
    rejected = [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == "ExtensionEventRejected"]
    assert sorted((r["extension_id"], r["reason"]) for r in rejected) == [
        ("loud", "rate_limited"),
        ("louder", "rate_limited"),
        ("louder", "rate_limited"),
    ]
    assert {r["rejected_event_type"] for r in rejected} == {"ExtensionMessageRequested"}
    # and nothing was retried into the gateway's dead-letter queue
    dlq = bus.provisioned.dlq_urls["extension_gateway"]
    assert bus.sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []
