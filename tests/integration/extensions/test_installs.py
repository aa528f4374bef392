"""The registry and per-chat installs over HTTP: who may install, config validation, life-cycle events."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus


def _events(bus: Bus, chat_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e["detail-type"], e["detail"]["data"])
        for e in bus.emitted()
        if e["detail"]["metadata"]["chat_id"] == chat_id
    ]


def test_the_registry_lists_every_shipped_extension_with_its_config_schema(api: Api, alice: User) -> None:
    # When a signed-in user lists the extensions
    response = api.get("/extensions", alice)

    # Then each comes with its capabilities and its config's JSON Schema
    assert response.status == 200, response.text
    by_id = {e["id"]: e for e in response.json["items"]}
    assert {"welcome", "moderation"} <= set(by_id)
    assert by_id["welcome"]["capabilities"] == ["messages:ephemeral", "messages:write"]
    assert by_id["welcome"]["config_schema"]["properties"]["template"]["default"] == "Welcome {name}!"
    assert by_id["welcome"]["config_schema"]["properties"]["private"]["default"] is False
    assert by_id["moderation"]["hooks"]["moderate"] is True
    assert set(by_id["moderation"]["config_schema"]["properties"]) == {"blocked_terms", "action"}


def test_anonymous_callers_cannot_list_extensions(api: Api) -> None:
    assert_error(api.get("/extensions"), 401, "not_authenticated")


def test_a_moderator_installs_configures_disables_and_removes_an_extension(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given Alice's chat, which Bob joined as a member
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    path = f"/chats/{chat_id}/extensions/welcome"

    # When Alice installs welcome with a template
    created = api.put(path, alice, body={"enabled": True, "config": {"template": "Hi {name}"}})

    # Then it is installed and enabled, and both facts are announced
    assert created.status == 201, created.text
    assert created.json["status"] == "enabled"
    assert created.json["config"] == {"template": "Hi {name}"}
    # and a member sees the install
    assert api.get(path, bob).json["config"] == {"template": "Hi {name}"}
    assert [i["extension_id"] for i in api.get(f"/chats/{chat_id}/extensions", bob).json["items"]] == [
        "analytics",  # installed on every new chat
        "welcome",
    ]

    # When she changes the config, then disables it, then re-enables it, then removes it
    assert api.put(path, alice, body={"enabled": True, "config": {"template": "Yo {name}"}}).status == 200
    assert (
        api.put(path, alice, body={"enabled": False, "config": {"template": "Yo {name}"}}).json["status"]
        == "disabled"
    )
    assert (
        api.put(path, alice, body={"enabled": True, "config": {"template": "Yo {name}"}}).json["enabled"]
        is True
    )
    assert api.delete(path, alice).status == 204
    assert_error(api.get(path, alice), 404, "extension_not_found")

    # Then each change was announced once, in order
    lifecycle = [
        t for t, d in _events(bus, chat_id) if t.startswith("Extension") and d["extension_id"] == "welcome"
    ]
    assert lifecycle == [
        "ExtensionInstalled",
        "ExtensionActivated",
        "ExtensionConfigChanged",
        "ExtensionDeactivated",
        "ExtensionActivated",
        "ExtensionUninstalled",
    ]


def test_putting_the_same_install_twice_announces_nothing_new(api: Api, bus: Bus, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    path = f"/chats/{chat_id}/extensions/welcome"
    api.put(path, alice, body={"enabled": True, "config": {}})
    before = len(_events(bus, chat_id))

    again = api.put(path, alice, body={"enabled": True, "config": {}})

    assert again.status == 200
    assert len(_events(bus, chat_id)) == before


def test_only_moderators_manage_extensions(api: Api, alice: User, bob: User, carol: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    path = f"/chats/{chat_id}/extensions/welcome"

    # a member may not install; an outsider learns nothing about the chat
    assert_error(api.put(path, bob, body={"enabled": True, "config": {}}), 403, "forbidden")
    assert_error(api.put(path, carol, body={"enabled": True, "config": {}}), 404, "chat_not_found")
    assert_error(api.get(f"/chats/{chat_id}/extensions", carol), 404, "chat_not_found")
    api.put(path, alice, body={"enabled": True, "config": {}})
    assert_error(api.delete(path, bob), 403, "forbidden")


def test_an_unknown_extension_is_404(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    response = api.put(f"/chats/{chat_id}/extensions/nope", alice, body={"enabled": True, "config": {}})
    assert_error(response, 404, "extension_not_found")


def test_a_config_that_fails_its_schema_is_refused_with_422_naming_each_field(
    api: Api, bus: Bus, alice: User
) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    path = f"/chats/{chat_id}/extensions/moderation"

    # When the config has a wrong type, a bad enum value and an unknown setting
    response = api.put(
        path,
        alice,
        body={"enabled": True, "config": {"blocked_terms": "spam", "action": "delete", "colour": "red"}},
    )

    # Then the 422 names every bad field, and nothing was installed or announced
    error = assert_error(response, 422, "invalid_config")
    fields = {f["field"] for f in error["fields"]}
    assert fields == {"config.blocked_terms", "config.action", "config.colour"}
    assert_error(api.get(path, alice), 404, "extension_not_found")
    assert not [
        t for t, d in _events(bus, chat_id) if t.startswith("Extension") and d["extension_id"] == "moderation"
    ]


def test_the_request_body_itself_is_validated(api: Api, alice: User) -> None:
    chat_id = api.create_chat(alice)["chat_id"]
    response = api.put(f"/chats/{chat_id}/extensions/welcome", alice, body={"enabled": "sometimes"})
    assert_error(response, 422, "validation_error", field="enabled")
