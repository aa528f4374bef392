"""Each extension's rule on moto's bus routes it only the events of chats where it is enabled (its
own life-cycle events included), whatever its target: a chat that did not enable it costs it nothing."""

from __future__ import annotations

import json
from typing import Any

import boto3

from infra.local.provision import Provisioned, provision_route
from parley import root
from parley.catalog import Actor, ExtensionEvent, new_event
from parley.extensions.manifest import Manifest, Target
from parley.routing import extension_route
from parley.settings import settings
from tests.support.api import Api, User
from tests.support.bus import Bus


def enable(api: Api, user: User, chat_id: str, extension_id: str, *, enabled: bool = True) -> None:
    response = api.put(
        f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": enabled, "config": {}}
    )
    assert response.status in (200, 201), response.text


def routed(bus: Bus, route_name: str) -> list[dict[str, Any]]:
    """What the route's rule put on its queue (taken off it, undelivered)."""
    return [json.loads(m["Body"]) for m in bus.raw_queue(route_name)]


def test_a_chat_without_sentiment_never_reaches_its_queue(api: Api, bus: Bus, alice: User) -> None:
    # Given a chat without sentiment and one with it
    plain = api.create_chat(alice)["chat_id"]
    scored = api.create_chat(alice)["chat_id"]
    enable(api, alice, scored, "sentiment")
    assert [e["detail-type"] for e in routed(bus, "ext_sentiment")] == [
        "ExtensionInstalled",
        "ExtensionActivated",
    ]

    # When both chats get posts
    api.send(alice, plain, "a secret nobody installed sentiment for")
    api.send(alice, scored, "This is great!")

    # Then sentiment's queue holds the second chat's post only, and nothing of the first chat
    events = routed(bus, "ext_sentiment")
    assert [(e["detail-type"], e["detail"]["metadata"]["chat_id"]) for e in events] == [
        ("MessageStored", scored)
    ]
    assert all(plain not in json.dumps(e) for e in events)
    # while the default-installed analytics got both
    chats = {e["detail"]["metadata"]["chat_id"] for e in routed(bus, "ext_analytics")}
    assert chats == {plain, scored}


def test_life_cycle_events_reach_an_extension_being_turned_off(api: Api, bus: Bus, alice: User) -> None:
    # Given sentiment enabled on a chat
    chat_id = api.create_chat(alice)["chat_id"]
    enable(api, alice, chat_id, "sentiment")

    # When a moderator disables it, a post follows, and it is uninstalled
    enable(api, alice, chat_id, "sentiment", enabled=False)
    api.send(alice, chat_id, "said while sentiment is off")
    assert api.delete(f"/chats/{chat_id}/extensions/sentiment", alice).status == 204

    # Then its hooks still got the life cycle, and not the post made while it was off
    types = [e["detail-type"] for e in routed(bus, "ext_sentiment")]
    assert types == [
        "ExtensionInstalled",
        "ExtensionActivated",
        "ExtensionDeactivated",
        "ExtensionUninstalled",
    ]
    bus.pump()  # and the SDK runs them without a failure


def test_a_queue_target_receives_only_chats_that_enabled_it(
    aws: Provisioned, api: Api, bus: Bus, alice: User
) -> None:
    # Given a third-party extension whose target is its own queue (no Lambda), registered and routed
    manifest = Manifest(
        id="relay",
        version="1.0.0",
        name="Relay",
        description="Forwards posts to a partner's queue.",
        events=("MessageStored",),
    )
    document = manifest.document(target=Target(kind="queue"))
    root.registry().register(document)
    provision_route(settings(), extension_route(document), aws)
    plain = api.create_chat(alice)["chat_id"]
    relayed = api.create_chat(alice)["chat_id"]
    enable(api, alice, relayed, "relay")

    # When both chats get posts
    api.send(alice, plain, "not for the relay")
    api.send(alice, relayed, "for the relay")

    # Then its queue holds only the chat that enabled it, message text included
    posts = [e for e in routed(bus, "ext_relay") if e["detail-type"] == "MessageStored"]
    assert [e["detail"]["data"]["message"]["text"] for e in posts] == ["for the relay"]
    assert {e["detail"]["metadata"]["chat_id"] for e in posts} == {relayed}


def test_a_subscriber_to_one_extension_event_gets_only_that_event(
    aws: Provisioned, api: Api, bus: Bus, alice: User
) -> None:
    # Given an extension subscribed to sentiment.scored only, enabled on a chat, its rule on moto
    manifest = Manifest(
        id="listener",
        version="1.0.0",
        name="Listener",
        description="Acts on scores.",
        events=("MessageStored",),
        extension_events=("sentiment.scored",),
    )
    root.registry().register(manifest.document())
    provision_route(settings(), extension_route(manifest.document()), aws)
    chat_id = api.create_chat(alice)["chat_id"]
    enable(api, alice, chat_id, "listener")
    routed(bus, "ext_listener")  # its life cycle so far

    # When sentiment emits two kinds of events there and a member posts
    def emitted(name: str) -> dict[str, Any]:
        data = ExtensionEvent(extension_id="sentiment", name=name, payload={"n": 1})
        detail = new_event(data, chat_id=chat_id, actor=Actor(id="sentiment", kind="extension")).to_detail()
        detail["metadata"]["extensions"] = ["sentiment", "listener"]
        return {
            "Source": "parley.ext.sentiment",
            "DetailType": "ExtensionEvent",
            "Detail": json.dumps(detail),
            "EventBusName": settings().bus_name,
        }

    boto3.client("events").put_events(Entries=[emitted("sentiment.scored"), emitted("sentiment.summary")])
    api.send(alice, chat_id, "hello")

    # Then its queue holds the event it named and the post, not sentiment's other event
    got = [(e["detail-type"], e["detail"]["data"].get("name")) for e in routed(bus, "ext_listener")]
    assert sorted(got) == [("ExtensionEvent", "sentiment.scored"), ("MessageStored", None)]
