"""Shadow mode on moto: a shadow install runs on live events but what it does (bot messages, hook
rulings) is recorded for moderators as ExtensionShadowOutput and never applied; a `shadow_config`
rules beside the live config, so a moderator compares the two, then switches the new one on."""

from __future__ import annotations

from typing import Any

from parley import root
from parley.catalog import Envelope
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered


def put(api: Api, user: User, chat_id: str, extension_id: str, **body: Any) -> dict[str, Any]:
    response = api.put(f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": True, **body})
    assert response.status in (200, 201), response.text
    installed: dict[str, Any] = response.json
    return installed


def shadow_outputs(api: Api, user: User, chat_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/chats/{chat_id}/events", user, query={"limit": 200})
    assert response.status == 200, response.text
    return [
        e["data"] for e in response.json["items"] if e["metadata"]["event_type"] == "ExtensionShadowOutput"
    ]


def texts(api: Api, user: User, chat_id: str) -> list[str]:
    return [m["text"] for m in api.get(f"/chats/{chat_id}/messages", user).json["items"]]


def test_a_shadow_config_rules_beside_the_live_one_then_is_switched_on(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given moderation live with one blocked term, and a stricter config in shadow beside it
    chat_id = str(api.create_chat(alice, title="Books")["chat_id"])
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    stricter = {"blocked_terms": ["spoiler", "ending"], "action": "reject"}
    installed = put(
        api, alice, chat_id, "moderation", config={"blocked_terms": ["spoiler"]}, shadow_config=stricter
    )
    assert installed["shadow_config"] == stricter
    assert installed["shadow"] is False

    # When Bob posts what only the shadow config blocks, then what both block
    assert api.send(bob, chat_id, "The ending surprised me").status == 201
    refused = api.send(bob, chat_id, "Spoiler: he dies")

    # Then the live config decided (the first is stored, the second refused) ...
    assert refused.status == 422
    assert texts(api, bob, chat_id) == ["The ending surprised me"]
    # ... and the shadow config's rulings on both are recorded for moderators, never applied
    rulings = [
        (o["config"], o["output_type"], o["output"]["action"]) for o in shadow_outputs(api, alice, chat_id)
    ]
    assert rulings == [
        ("shadow_config", "MessageModerated", "reject"),
        ("shadow_config", "MessageModerated", "reject"),
    ]
    assert shadow_outputs(api, bob, chat_id) == []  # a member sees none of them

    # When Alice switches the shadow config on (it becomes the live config)
    switched = put(api, alice, chat_id, "moderation", config=stricter)

    # Then it decides from now on, and the log still folds to the stored chat
    assert switched["shadow_config"] is None
    assert api.send(bob, chat_id, "What an ending").status == 422
    assert root.rebuild_service().check(chat_id).differences == ()


def test_a_shadow_install_gets_live_events_but_its_bot_messages_are_only_recorded(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given welcome installed in shadow mode
    chat_id = str(api.create_chat(alice, title="Quiet club")["chat_id"])
    assert (
        put(api, alice, chat_id, "welcome", config={"template": "Hi {name}!"}, shadow=True)["shadow"] is True
    )

    # When Bob joins and the bus settles
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()

    # Then no greeting was posted, and the one it asked for is recorded for moderators
    assert texts(api, alice, chat_id) == []
    [output] = shadow_outputs(api, alice, chat_id)
    assert output["extension_id"] == "welcome"
    assert output["output_type"] == "ExtensionMessageRequested"
    assert output["output"]["text"] == "Hi Bob!"
    assert output["config"] == "config"

    # When Alice takes it out of shadow mode and Carol joins
    put(api, alice, chat_id, "welcome", config={"template": "Hi {name}!"})
    assert api.post(f"/chats/{chat_id}/members", carol).status == 200
    bus.pump()

    # Then Carol is greeted for real
    assert texts(api, alice, chat_id) == ["Hi Carol!"]
    assert root.rebuild_service().check(chat_id).differences == ()


def test_a_shadow_moderation_install_never_refuses_and_records_its_rulings(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given moderation installed in shadow mode only
    chat_id = str(api.create_chat(alice, title="Trial")["chat_id"])
    put(
        api,
        alice,
        chat_id,
        "moderation",
        config={"blocked_terms": ["spoiler"]},
        shadow=True,
        shadow_config={"blocked_terms": ["spoiler"], "action": "redact"},
    )

    # When Alice posts a blocked term
    assert api.send(alice, chat_id, "spoiler alert").status == 201

    # Then the post stands as written, and the rulings it would have made are recorded: its config's
    # refusal, and its shadow config's rewrite with the text it would have stored
    assert texts(api, alice, chat_id) == ["spoiler alert"]
    rejected, rewritten = shadow_outputs(api, alice, chat_id)
    assert (rejected["config"], rejected["output"]["action"]) == ("config", "reject")
    assert (rewritten["config"], rewritten["output"]["action"]) == ("shadow_config", "rewrite")
    assert rewritten["output"]["text"] == "*** alert"


def test_a_shadow_installs_event_caused_by_a_whisper_is_recorded_for_no_one_outside_it(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    extension: Extension[Any] = Extension(
        Manifest(
            id="echo",
            version="1.0.0",
            name="Echo",
            description="Repeats what it reads as an event.",
            events=("MessageStored",),
            emits=("echo.heard",),
            capabilities=frozenset({"events:emit", "messages:read_private"}),
        )
    )

    @extension.on("MessageStored")
    def heard(event: Envelope[Any], ctx: Context[Any]) -> None:
        ctx.emit("echo.heard", {"text": event.data.message.text})

    with registered(extension):
        # Given echo in shadow mode in Alice's chat, and Bob whispering to Carol
        chat_id = str(api.create_chat(alice)["chat_id"])
        for member in (bob, carol):
            assert api.post(f"/chats/{chat_id}/members", member).status == 200
        put(api, alice, chat_id, "echo", config={}, shadow=True)
        bus.pump()
        whisper = api.send(bob, chat_id, "psst", to=[carol.user_id])
        assert whisper.status == 201, whisper.text

        # When echo hears it and emits an event quoting it
        assert deliver(extension, bus.emitted(), **{"detail-type": "MessageStored"}) == [True]
        bus.pump()

    # Then the event is recorded, not applied, and Alice, a moderator outside the whisper, cannot
    # read it (live, the event would have reached only those who may see the whisper)
    events = api.get(f"/chats/{chat_id}/events", alice, query={"limit": 200}).json["items"]
    assert [e["metadata"]["event_type"] for e in events][-2:] == ["Withheld", "Withheld"]
    assert shadow_outputs(api, alice, chat_id) == []
    assert "psst" not in str(events)


def test_a_shadow_ruling_on_a_public_post_is_routed_as_backfill_would_hand_it_out(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given moderation live, with a shadow config that would reject what the live one lets through
    chat_id = str(api.create_chat(alice, title="Routed")["chat_id"])
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    put(
        api,
        alice,
        chat_id,
        "moderation",
        config={"blocked_terms": ["spoiler"]},
        shadow_config={"blocked_terms": ["ending"], "action": "reject"},
    )

    # When Bob posts publicly what only the shadow config blocks
    assert api.send(bob, chat_id, "The ending surprised me").status == 201

    # Then its shadow ruling, a notice for moderators (people), is routed to no extension (none of the
    # chat's holds messages:read_private): backfill would never hand it out either
    [shadow] = [e["detail"] for e in bus.emitted() if e["detail-type"] == "ExtensionShadowOutput"]
    assert shadow["metadata"].get("audience") is None
    assert shadow["metadata"]["extensions"] == []
    stored = [e["detail"] for e in bus.emitted() if e["detail-type"] == "MessageStored"]
    assert stored[-1]["metadata"]["extensions"]  # the post itself still reaches the chat's extensions
