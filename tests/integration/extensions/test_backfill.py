"""Backfill on moto: an extension that asks for history gets a chat's past once enabled there, in
order, marked replayed, before live events; analytics enabled on an old chat counts the whole chat."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.functions import load_handler
from parley import root
from parley.catalog import Envelope, parse_detail
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import BACKFILLED_KEY, BackfillPendingError, Context, Extension
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered

EVENTS = ("UserJoined", "MessageStored", "ExtensionDisabled")


def historian(seen: list[tuple[str, int, bool]], *, max_events: int = 1000) -> Extension[Any]:
    """An extension asking for history that notes (event type, sequence, replayed) of each event."""
    extension: Extension[Any] = Extension(
        Manifest(
            id="historian",
            version="1.0.0",
            name="Historian",
            description="Notes what it is handed.",
            events=EVENTS,
            backfill=True,
            backfill_max_events=max_events,
        )
    )

    def note(event: Envelope[Any], ctx: Context[Any]) -> None:
        assert event.metadata.sequence is not None
        seen.append((event.event_type, event.metadata.sequence, event.metadata.replayed))

    for event_type in EVENTS:
        extension.on(event_type)(note)
    return extension


def old_chat(api: Api, alice: User, bob: User) -> str:
    chat_id = str(api.create_chat(alice, title="Old")["chat_id"])
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    for n in range(3):
        assert api.send(alice if n % 2 == 0 else bob, chat_id, f"before {n}").status == 201
    return chat_id


def enable(api: Api, user: User, chat_id: str, extension_id: str) -> None:
    response = api.put(
        f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": True, "config": {}}
    )
    assert response.status in (200, 201), response.text


def log_types(api: Api, user: User, chat_id: str) -> list[tuple[str, int]]:
    items = api.get(f"/chats/{chat_id}/events", user, query={"limit": 100}).json["items"]
    return [(i["metadata"]["event_type"], i["metadata"]["sequence"]) for i in items]


def activations(events: list[dict[str, Any]], extension_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["detail-type"] == "ExtensionActivated" and e["detail"]["data"]["extension_id"] == extension_id
    ]


def test_an_enabled_extension_gets_the_past_in_order_marked_replayed_before_live_events(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given an old chat: Bob joined, three messages
    seen: list[tuple[str, int, bool]] = []
    extension = historian(seen)
    with registered(extension):
        chat_id = old_chat(api, alice, bob)
        past = [(t, s) for t, s in log_types(api, alice, chat_id) if t in ("UserJoined", "MessageStored")]

        # When a moderator enables the extension and Alice posts right after
        enable(api, alice, chat_id, "historian")
        assert api.send(alice, chat_id, "live").status == 201
        events = bus.emitted()
        [activated] = activations(events, "historian")
        [live] = [e for e in events if e["detail"]["data"].get("message", {}).get("text") == "live"]

        # Then the live message, arriving first, is handed back until the backfill has run
        with pytest.raises(BackfillPendingError):
            extension.deliver(live)
        load_handler("backfill")  # the backfill route's handler loads (its function exists)
        assert root.backfill_service().on_activated(parse_detail(activated["detail"])) == len(past)
        assert deliver(extension, [live]) == [True]

    # And it saw the past first, in log order and marked replayed, then the live message, not replayed
    assert seen[: len(past)] == [(t, s, True) for t, s in past]
    assert seen[len(past) :] == [("MessageStored", live["detail"]["metadata"]["sequence"], False)]
    installed = [s for t, s in log_types(api, alice, chat_id) if t == "ExtensionInstalled"][-1]
    shown = api.get(f"/chats/{chat_id}/extensions/historian", alice).json
    assert shown["backfill_through"] == installed - 1
    assert activated["detail"]["data"]["backfill_through"] == installed - 1
    stored = root.extension_runtime().state("historian", chat_id).get(BACKFILLED_KEY)
    assert stored == {"through": activated["detail"]["data"]["backfill_through"]}


def test_a_backfill_is_bounded_and_leaves_out_what_members_may_not_read(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given an old chat, and an extension whose backfill reads only the last 3 log entries
    seen: list[tuple[str, int, bool]] = []
    extension = historian(seen, max_events=3)
    with registered(extension):
        chat_id = old_chat(api, alice, bob)
        log = log_types(api, alice, chat_id)

        # When a moderator enables it and the bus settles
        enable(api, alice, chat_id, "historian")
        bus.pump()

    # Then it got the events it subscribes to among the last 3 entries before the enabling
    through = len(log)
    assert [(t, s) for t, s, _ in seen] == [
        (t, s) for t, s in log if s > through - 3 and t in ("UserJoined", "MessageStored")
    ]
    assert all(replayed for _, _, replayed in seen)


def test_a_whisper_to_others_is_not_backfilled(api: Api, bus: Bus, alice: User, bob: User) -> None:
    """The past comes through the same audience rule as live delivery: a whisper between people
    reaches no extension that is not addressed and does not hold messages:read_private."""
    seen: list[tuple[str, int, bool]] = []
    extension = historian(seen)
    with registered(extension):
        chat_id = old_chat(api, alice, bob)
        whisper = api.post(f"/chats/{chat_id}/messages", alice, body={"text": "psst", "to": [bob.user_id]})
        assert whisper.status == 201, whisper.text
        enable(api, alice, chat_id, "historian")
        bus.pump()

    stored = [s for t, s, _ in seen if t == "MessageStored"]
    assert len(stored) == 3
    assert whisper.json["sequence"] not in stored


def test_an_extension_without_backfill_gets_no_past(api: Api, bus: Bus, alice: User, bob: User) -> None:
    seen: list[tuple[str, int, bool]] = []
    extension = historian(seen)
    plain: Extension[Any] = Extension(extension.manifest.model_copy(update={"backfill": False}))
    plain._handlers = extension._handlers
    with registered(plain):
        chat_id = old_chat(api, alice, bob)
        enable(api, alice, chat_id, "historian")
        bus.pump()

        installed = api.get(f"/chats/{chat_id}/extensions", alice).json["items"]
        activated = activations(bus.emitted(), "historian")

    assert seen == []
    assert ("historian", "enabled") in [(i["extension_id"], i["status"]) for i in installed]
    assert [a["detail"]["data"]["backfill_through"] for a in activated] == [None]


def test_analytics_enabled_on_an_old_chat_counts_the_whole_chat(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given an old chat whose analytics was uninstalled before anyone spoke
    chat_id = str(api.create_chat(alice, title="Quiet")["chat_id"])
    assert api.delete(f"/chats/{chat_id}/extensions/analytics", alice).status == 204
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    texts = ["one", "two two", "three 3 3"]
    for n, text in enumerate(texts):
        assert api.send(alice if n % 2 == 0 else bob, chat_id, text).status == 201
    bus.pump()

    # When a moderator enables analytics, Bob posts once more, and the bus settles (twice over: a
    # redelivered enabling backfills again)
    enable(api, alice, chat_id, "analytics")
    assert api.send(bob, chat_id, "after").status == 201
    bus.pump()
    created, activated = activations(bus.emitted(), "analytics")
    assert created["detail"]["data"]["backfill_through"] is None  # a new chat's default install: none
    root.backfill_service().on_activated(parse_detail(activated["detail"]))

    # Then its report counts every message of the chat, each once, and both members
    report = api.get(f"/chats/{chat_id}/analytics", alice).json
    messages = report["messages"]
    assert messages["count"] == 4
    assert messages["total_length"] == sum(map(len, [*texts, "after"]))
    assert messages["by_kind"]["human"]["count"] == 4
