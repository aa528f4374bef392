"""The sentiment extension on moto: its own event reaches other extensions through the SDK, and a
forged or unauthorized `sentiment.scored` reaches no one."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from parley.catalog import Actor, Envelope, ExtensionEvent, new_event
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from parley.settings import settings
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered


def enable(api: Api, user: User, chat_id: str, extension_id: str, *, enabled: bool = True) -> None:
    response = api.put(
        f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": enabled, "config": {}}
    )
    assert response.status in (200, 201), response.text


def of_type(bus: Bus, detail_type: str, chat_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in bus.emitted()
        if e["detail-type"] == detail_type and e["detail"]["metadata"]["chat_id"] == chat_id
    ]


def listener(seen: list[dict[str, Any]]) -> Extension[Any]:
    """Another extension that subscribes to `sentiment.scored` (say, a mood dashboard)."""
    ext: Extension[Any] = Extension(
        Manifest(
            id="mood",
            version="1.0.0",
            name="Mood",
            description="Keeps the chat's mood from sentiment scores.",
            extension_events=("sentiment.scored",),
        )
    )

    @ext.on("sentiment.scored")
    def on_score(event: Envelope[Any], ctx: Context[Any]) -> None:
        seen.append(event.data.payload)

    return ext


def forger(capabilities: frozenset[Any], emits: tuple[str, ...] = ()) -> Extension[Any]:
    return Extension(
        Manifest(
            id="forger",
            version="1.0.0",
            name="Forger",
            description="Pretends to be the sentiment extension.",
            capabilities=capabilities,
            emits=emits,
        )
    )


def test_a_score_is_emitted_per_message_and_reaches_a_subscribed_extension(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    seen: list[dict[str, Any]] = []
    mood = listener(seen)
    with registered(mood):
        # Given a chat with sentiment, welcome (a bot that posts) and the mood extension enabled
        chat_id = api.create_chat(alice)["chat_id"]
        for extension_id in ("sentiment", "welcome", "mood"):
            enable(api, alice, chat_id, extension_id)

        # When Bob joins (welcome greets him) and both people post
        api.post(f"/chats/{chat_id}/members", bob)
        bus.pump()
        happy = api.send(alice, chat_id, "This is great, thanks!").json
        sad = api.send(bob, chat_id, "I don't like it, the app is broken and slow").json
        bus.pump()

        # Then sentiment scored the people's messages, not the bot's greeting
        scored = of_type(bus, "ExtensionEvent", chat_id)
        assert [e["detail"]["data"]["name"] for e in scored] == ["sentiment.scored"] * 2
        assert {e["source"] for e in scored} == {"parley.ext.sentiment"}
        first = scored[0]["detail"]["data"]["payload"]
        assert first == {
            "message_id": happy["message_id"],
            "sequence": happy["sequence"],
            "sender_id": alice.user_id,
            "score": first["score"],
            "label": "positive",
        }
        assert first["score"] > 0.5
        assert scored[1]["detail"]["data"]["payload"]["label"] == "negative"
        assert scored[1]["detail"]["data"]["payload"]["message_id"] == sad["message_id"]
        # and the core accepted them (nothing refused)
        assert of_type(bus, "ExtensionEventRejected", chat_id) == []

        # When the events are delivered to the subscribed extension (its queue would), twice
        ran = deliver(mood, bus.emitted(), **{"detail-type": "ExtensionEvent"})
        again = deliver(mood, bus.emitted(), **{"detail-type": "ExtensionEvent"})

    # Then its handler got each score once, typed, through the SDK
    assert ran == [True, True]
    assert again == [False, False]
    assert [p["label"] for p in seen] == ["positive", "negative"]


def put_extension_event(source: str, actor: Actor, chat_id: str, *, claimed_id: str) -> dict[str, Any]:
    """Put a `sentiment.scored` on the bus as an extension could (IAM aside); the event as sent."""
    data = ExtensionEvent(
        extension_id=claimed_id,
        name="sentiment.scored",
        payload={"message_id": "m-0", "sequence": 1, "sender_id": "x", "score": 1.0, "label": "positive"},
    )
    envelope = new_event(data, chat_id=chat_id, actor=actor)
    entry = {
        "EventBusName": settings().bus_name,
        "Source": source,
        "DetailType": envelope.event_type,
        "Detail": envelope.to_json(),
    }
    boto3.client("events", region_name="us-east-1").put_events(Entries=[entry])
    return {"source": source, "detail-type": envelope.event_type, "detail": envelope.to_detail()}


FORGER = Actor(id="forger", kind="extension", name="Forger")
SENTIMENT = Actor(id="sentiment", kind="extension", name="Sentiment")


@pytest.mark.parametrize(
    ("sender", "source", "actor", "claimed_id", "reason"),
    [
        (forger(frozenset()), "parley.ext.forger", FORGER, "forger", "missing_capability"),
        (
            forger(frozenset({"events:emit"}), emits=("forger.scored",)),
            "parley.ext.forger",
            FORGER,
            "forger",
            "undeclared_event",
        ),
        # sent from sentiment's source, disabled on the chat: refused, but no chat write for it
        (forger(frozenset()), "parley.ext.sentiment", FORGER, "sentiment", None),
        (None, "parley.ext.sentiment", SENTIMENT, "sentiment", None),
    ],
    ids=["lacks-events-emit", "not-its-event", "forged-source", "sentiment-disabled"],
)
def test_a_forged_or_unauthorized_score_is_ignored_by_subscribers_and_rejected_by_the_gateway(
    api: Api,
    bus: Bus,
    alice: User,
    sender: Extension[Any] | None,
    source: str,
    actor: Actor,
    claimed_id: str,
    reason: str | None,
) -> None:
    seen: list[dict[str, Any]] = []
    mood = listener(seen)
    with registered(mood, *([sender] if sender else [])):
        # Given a chat with the mood extension enabled, and the sender installed (sentiment: disabled)
        chat_id = api.create_chat(alice)["chat_id"]
        enable(api, alice, chat_id, "mood")
        if sender is not None:
            enable(api, alice, chat_id, sender.id)
        enable(api, alice, chat_id, "sentiment", enabled=False)

        # When a `sentiment.scored` it may not send arrives on the bus
        forged = put_extension_event(source, actor, chat_id, claimed_id=claimed_id)
        bus.pump()

        # Then the subscriber's SDK drops it: its handler never runs
        assert deliver(mood, [forged]) == [False]
        assert seen == []

    # and the gateway recorded the refusal, with its reason, in the chat's log (where the sender is enabled)
    if reason is None:
        assert of_type(bus, "ExtensionEventRejected", chat_id) == []
        return
    [rejected] = of_type(bus, "ExtensionEventRejected", chat_id)
    assert rejected["detail"]["data"]["rejected_event_type"] == "ExtensionEvent"
    assert rejected["detail"]["data"]["rejected_event_id"] == forged["detail"]["metadata"]["event_id"]
    assert rejected["detail"]["data"]["reason"].startswith(reason)
    assert rejected["source"] == "parley.core"
    assert rejected["detail"]["metadata"]["sequence"] is not None
