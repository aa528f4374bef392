"""Interactive messages on moto, through the real API, gateway and broadcaster: an extension posts
blocks, a member acts on them (HTTP and WebSocket), the action reaches that extension alone and once
per client id, the extension updates its message, every viewer's socket gets MessageUpdated and
history shows the latest version with its edit marker."""

from __future__ import annotations

import json
import types
import uuid
from typing import Any

import pytest

from parley import root
from parley.adapters.dynamodb import message_id_key
from parley.adapters.tables import EventRecord, IdempotencyRecord, MessageRecord
from parley.catalog import ExtensionMessageRequested, ExtensionMessageUpdateRequested, new_event
from parley.domain.model import Outcome
from parley.errors import ConcurrentWriteError
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from tests.support.api import Api, User, assert_error
from tests.support.bus import Bus
from tests.support.extensions import deliver, registered
from tests.support.interactive import POLL, act, chat_with, lunch_bot, post_the_poll, spy
from tests.support.readme import example
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets


@pytest.fixture
def sockets(api: Api, monkeypatch: pytest.MonkeyPatch) -> Sockets:
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    gateway = Gateway()
    gateway.install(root.pusher().client)
    return Sockets(api, gateway)


def submitted(bus: Bus) -> list[dict[str, Any]]:
    return [e for e in bus.emitted() if e["detail-type"] == "InteractionSubmitted"]


def test_a_vote_reaches_the_owning_extension_whose_update_every_viewer_sees_and_history_keeps(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    bot, other = lunch_bot(), spy()
    with registered(bot, other):
        # Given a chat with the lunch bot and another extension, Alice and Bob on sockets, and the poll
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch", "spy"))
        for connection_id, user in (("alice-1", alice), ("bob-1", bob)):
            sockets.subscribe(sockets.open(user, connection_id), chat_id)
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        assert (poll["sender_id"], poll["blocks_version"], poll["text"]) == (
            "ext:lunch",
            1,
            "Lunch? Pizza or Sushi",
        )
        assert [b["type"] for b in poll["blocks"]] == ["section", "poll", "form"]
        assert not {"version", "edited_at"} & set(poll)

        # When Bob votes
        answer = act(api, bob, chat_id, poll["message_id"], "vote", "click-1", option="sushi")

        # Then it is accepted with a submission id, and only the lunch bot is routed the event
        assert answer.status == 202, answer.json
        (event,) = submitted(bus)
        assert event["detail"]["metadata"]["extensions"] == ["lunch"]
        assert event["detail"]["data"]["values"] == {"option": "sushi"}
        assert event["detail"]["data"]["submission_id"] == answer.json["submission_id"]
        assert event["detail"]["metadata"]["audience"] == [bob.user_id]

        # When the same click is retried, Then the same answer comes back and nothing is sent again
        again = act(api, bob, chat_id, poll["message_id"], "vote", "click-1", option="sushi")
        assert again.status == 202
        assert again.json == {**answer.json, "replayed": True}
        assert len(submitted(bus)) == 1

        # When the bot gets the vote (the spy's rule never matches it: it is not listed) and answers
        assert deliver(bot, bus.emitted(), **{"detail-type": "InteractionSubmitted"}) == [True]
        bus.pump()

    # Then both sockets got the MessageUpdated, with version 2 and the new blocks
    for connection_id in ("alice-1", "bob-1"):
        (update,) = [f for f in sockets.gateway.frames(connection_id) if f["type"] == "MessageUpdated"]
        message = update["data"]["message"]
        assert (message["message_id"], message["version"]) == (poll["message_id"], 2)
        assert message["text"] == f"{bob.user_id} picked sushi"
        assert [o["count"] for o in message["blocks"][0]["options"]] == [0, 1]
        assert update["sequence"] > 0
    # And history shows the latest version with its edit marker, in the message's place
    latest = next(
        m
        for m in api.get(f"/chats/{chat_id}/messages", alice).json["items"]
        if m["message_id"] == poll["message_id"]
    )
    assert (latest["sequence"], latest["version"], latest["text"]) == (
        poll["sequence"],
        2,
        f"{bob.user_id} picked sushi",
    )
    assert latest["edited_at"]
    # And the log holds the update as an event after the submission, which only Bob reads (Alice a marker)
    bobs, alices = (
        [e["metadata"]["event_type"] for e in api.get(f"/chats/{chat_id}/events", user).json["items"]]
        for user in (bob, alice)
    )
    assert bobs.index("InteractionSubmitted") < bobs.index("MessageUpdated")
    assert "InteractionSubmitted" not in alices
    assert alices[bobs.index("InteractionSubmitted")] == "Withheld"


def test_actions_are_checked_against_the_current_blocks_and_who_may_see_the_message(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User, carol: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        message_id = poll["message_id"]
        alices = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
        plain = next(m for m in alices if m["text"] == "lunch")

        # Then an outsider learns nothing, and an unknown or plain message is not found
        assert_error(
            act(api, carol, chat_id, message_id, "vote", "c1", option="pizza"), 404, "chat_not_found"
        )
        unknown = "00000000-0000-4000-8000-000000000000"
        assert_error(act(api, bob, chat_id, unknown, "vote", "b1", option="pizza"), 404, "message_not_found")
        assert_error(act(api, bob, chat_id, plain["message_id"], "vote", "b2"), 404, "message_not_found")
        # And an action the message lacks, or values it does not declare, are refused naming the field
        assert_error(act(api, bob, chat_id, message_id, "nope", "b3"), 422, "invalid_action", "action_id")
        assert_error(
            act(api, bob, chat_id, message_id, "vote", "b4", option="tacos"),
            422,
            "invalid_action",
            "values.option",
        )
        assert_error(
            act(api, bob, chat_id, message_id, "rsvp", "b5", guests=2), 422, "invalid_action", "values.who"
        )
        assert_error(
            act(api, bob, chat_id, message_id, "rsvp", "b6", who="Bob", guests="two"),
            422,
            "invalid_action",
            "values.guests",
        )
        assert act(api, bob, chat_id, message_id, "rsvp", "b7", who="Bob", guests=2).status == 202
        assert [e["detail"]["data"]["values"] for e in submitted(bus)] == [{"who": "Bob", "guests": 2}]

        # When the bot closes the poll (an update), Then a vote is refused against the blocks as they are now
        closed = {**POLL, "closed": True}
        update = ExtensionMessageUpdateRequested(
            extension_id="lunch", request_id="close-1", message_id=message_id, text="closed", blocks=(closed,)
        )
        root.extension_runtime().publish([new_event(update, chat_id=chat_id, actor=bot.actor)])
        bus.pump()
        assert_error(act(api, bob, chat_id, message_id, "vote", "b8", option="pizza"), 422, "poll_closed")
        # And the form it removed can no longer be submitted
        assert_error(
            act(api, bob, chat_id, message_id, "rsvp", "b9", who="Bob"), 422, "invalid_action", "action_id"
        )
        # And a redelivered update request changes nothing more
        root.extension_runtime().publish([new_event(update, chat_id=chat_id, actor=bot.actor)])
        bus.pump()
        updates = [e for e in bus.emitted() if e["detail-type"] == "MessageUpdated"]
        assert [u["detail"]["data"]["message"]["version"] for u in updates] == [2]


def test_an_extension_may_update_only_its_own_messages_and_blocks_need_the_capability(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    target: list[str] = []
    bot = lunch_bot()
    impostor: Extension[Any] = Extension(
        Manifest(
            id="impostor",
            version="1.0.0",
            name="Impostor",
            description="Edits what is not its own.",
            events=("MessageStored",),
            capabilities=frozenset({"messages:write", "messages:interactive"}),
        )
    )

    @impostor.on("MessageStored")
    def edit(event: Any, ctx: Context[Any]) -> None:
        if target and event.data.message.text == "now":
            ctx.update_message(target[0], text="hijacked")

    plain_writer: Extension[Any] = Extension(
        Manifest(
            id="plain",
            version="1.0.0",
            name="Plain",
            description="Writes text only.",
            capabilities=frozenset({"messages:write"}),
        )
    )
    with registered(bot, impostor, plain_writer):
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch", "impostor", "plain"))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        target.append(poll["message_id"])

        # When another extension tries to update the bot's message
        assert api.send(alice, chat_id, "now").status == 201
        deliver(impostor, bus.emitted(), **{"detail-type": "MessageStored"})
        bus.pump()

        # And an extension without messages:interactive sends a message with blocks over the bus
        forged = ExtensionMessageRequested(
            extension_id="plain",
            request_id="r-1",
            text="click me",
            blocks=({"type": "section", "text": "x"},),
        )
        root.extension_runtime().publish([new_event(forged, chat_id=chat_id, actor=plain_writer.actor)])
        bus.pump()

    # Then both are refused and recorded, and the message is as the bot left it
    events = api.get(f"/chats/{chat_id}/events", alice).json["items"]
    reasons = {
        e["data"]["extension_id"]: e["data"]["reason"]
        for e in events
        if e["metadata"]["event_type"] == "ExtensionEventRejected"
    }
    assert reasons["impostor"].startswith("not_owner")
    assert reasons["plain"].startswith("missing_capability")
    texts = [m["text"] for m in api.get(f"/chats/{chat_id}/messages", alice).json["items"]]
    assert not {"hijacked", "click me"} & set(texts)
    assert poll["text"] in texts


def test_a_socket_submits_an_action_with_the_same_rules_and_idempotency(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        connection = sockets.open(bob, "bob-1")
        frame = {
            "action": "submitAction",
            "chat_id": chat_id,
            "message_id": poll["message_id"],
            "action_id": "vote",
            "values": {"option": "pizza"},
            "client_action_id": "ws-1",
        }
        # When Bob votes over his socket, twice with one client id
        first, second = sockets.send(connection, **frame), sockets.send(connection, **frame)
        # Then both are acknowledged with the same submission, and one event is sent
        assert first["type"] == second["type"] == "Ack"
        assert first["data"]["submission_id"] == second["data"]["submission_id"]
        assert (first["data"]["replayed"], second["data"]["replayed"]) == (False, True)
        assert len(submitted(bus)) == 1
        # And a bad value is an Error frame naming the field
        bad = sockets.send(connection, **{**frame, "client_action_id": "ws-2", "values": {"option": "x"}})
        assert (bad["type"], bad["data"]["code"], bad["data"]["field"]) == (
            "Error",
            "invalid_action",
            "values.option",
        )


def test_the_readme_example_asks_and_answers_a_click(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given README's "Interactive messages" example, as the module an author would save
    module = types.ModuleType("readme_deploy")
    exec(compile(example("interactive-deploy"), "README.md:interactive-deploy", "exec"), module.__dict__)
    deploy: Extension[Any] = module.deploy
    with registered(deploy):
        chat_id = chat_with(api, bus, alice, extensions=("deploy",))
        # When Bob joins, the extension asks with two buttons
        api.post(f"/chats/{chat_id}/members", bob)
        assert True in deliver(deploy, bus.emitted(), **{"detail-type": "UserJoined"})
        bus.pump()
        (asked,) = [m for m in api.get(f"/chats/{chat_id}/messages", bob).json["items"] if m.get("blocks")]
        # And Bob clicks "Deploy", and the extension gets the click
        assert act(api, bob, chat_id, asked["message_id"], "deploy", "k-1").status == 202
        assert deliver(deploy, bus.emitted(), **{"detail-type": "InteractionSubmitted"}) == [True]
        bus.pump()
    # Then the message reads the answer, without its buttons, marked edited
    (answered,) = [
        m
        for m in api.get(f"/chats/{chat_id}/messages", bob).json["items"]
        if m["message_id"] == asked["message_id"]
    ]
    assert (answered["text"], answered["version"]) == ("Deploying build 42.", 2)
    assert "blocks" not in answered
    assert answered["edited_at"]


@pytest.mark.parametrize("action", ["reject", "redact"])
def test_the_chats_moderation_rules_on_the_blocks_visible_texts(
    api: Api, bus: Bus, alice: User, action: str
) -> None:
    bot = lunch_bot()
    with registered(bot):
        # Given a chat whose moderation blocks a word that only a form's label shows ("Guests")
        chat_id = chat_with(api, bus, alice, extensions=("lunch",))
        body = {"enabled": True, "config": {"blocked_terms": ["guests"], "action": action}}
        assert api.put(f"/chats/{chat_id}/extensions/moderation", alice, body=body).status in (200, 201)
        # When the bot posts its poll and form
        assert api.send(alice, chat_id, "lunch").status == 201
        assert True in deliver(bot, bus.emitted(), **{"detail-type": "MessageStored"})
        bus.pump()
    # Then the hook ruled on the bot's message, and nothing clickable with that label is stored
    ruled = [
        e["detail"]["data"]["action"]
        for e in bus.emitted()
        if e["detail-type"] == "MessageModerated" and e["detail"]["data"]["sender_id"] == "ext:lunch"
    ]
    assert ruled == ["reject" if action == "reject" else "rewrite"]
    items = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
    bots = [m for m in items if m["sender_id"] == "ext:lunch"]
    assert not [m for m in bots if m.get("blocks")]
    if action == "redact":  # stored as the rewritten text alone, without the blocks it ruled on
        (redacted,) = bots
        assert "***" in redacted["text"]
    else:
        assert bots == []


def test_the_message_row_only_moves_forward(api: Api, bus: Bus, alice: User) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        for n in (1, 2):  # two updates: the row is at version 3
            update = ExtensionMessageUpdateRequested(
                extension_id="lunch", request_id=f"u-{n}", message_id=poll["message_id"], text=f"v{n + 1}"
            )
            root.extension_runtime().publish([new_event(update, chat_id=chat_id, actor=bot.actor)])
            bus.pump()
    repository = root.chat_repository()
    stored = repository.message_by_id(chat_id, poll["message_id"])
    assert stored is not None
    assert (stored.version, stored.text) == (3, "v3")
    # When a write carrying an older version (or the same one again) reaches the row
    loaded = repository.load(chat_id)
    assert loaded is not None
    for stale in (2, 3):
        late = stored.model_copy(update={"version": stale, "text": "late"})
        # Then it is refused as a lost race, and the row keeps the newest version
        with pytest.raises(ConcurrentWriteError):
            repository.commit(loaded, Outcome(chat=loaded.chat, updated=late), [], now=stored.created_at)
    again = repository.message_by_id(chat_id, poll["message_id"])
    assert again is not None
    assert (again.version, again.text) == (3, "v3")
    # And the same write with the next version goes through (the refusal was the version's)
    newer = stored.model_copy(update={"version": 4, "text": "v4"})
    repository.commit(loaded, Outcome(chat=loaded.chat, updated=newer), [], now=stored.created_at)
    latest = repository.message_by_id(chat_id, poll["message_id"])
    assert latest is not None
    assert (latest.version, latest.text) == (4, "v4")


def test_an_update_is_projected_on_the_messagestored_row_and_never_republished(
    api: Api, bus: Bus, sockets: Sockets, alice: User, bob: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        # Given the poll, Alice on a socket
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        sockets.subscribe(sockets.open(alice, "alice-1"), chat_id)
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        # When the bot updates it
        update = ExtensionMessageUpdateRequested(
            extension_id="lunch", request_id="u-1", message_id=poll["message_id"], text="v2"
        )
        root.extension_runtime().publish([new_event(update, chat_id=chat_id, actor=bot.actor)])
        bus.pump()

    # Then no message row was written: the poll's MessageStored row holds the latest version beside
    # the event as published, which GET /events still shows as posted
    assert list(MessageRecord.query(chat_id)) == []
    (row,) = [r for r in EventRecord.query(chat_id) if r.event_type == "MessageStored" and r.latest]
    assert (row.edit_version, json.loads(row.latest)["text"]) == (2, "v2")
    assert json.loads(row.detail_json())["data"]["message"]["text"] == poll["text"]
    logged = [e for e in api.get(f"/chats/{chat_id}/events", alice).json["items"]]
    (stored,) = [
        e
        for e in logged
        if e["data"].get("message", {}).get("message_id") == poll["message_id"]
        and e["metadata"]["event_type"] == "MessageStored"
    ]
    assert stored["data"]["message"]["text"] == poll["text"]

    # And that change of the row (a MODIFY on the stream) reached neither the bus nor a socket again
    def stored_of_poll(events: list[dict[str, Any]]) -> int:
        return sum(
            1
            for e in events
            if e["type"] == "MessageStored" and e["data"]["message"]["message_id"] == poll["message_id"]
        )

    on_bus = [{"type": e["detail-type"], "data": e["detail"]["data"]} for e in bus.emitted()]
    assert stored_of_poll(on_bus) == 1
    assert stored_of_poll(sockets.gateway.frames("alice-1")) == 1
    assert [f["type"] for f in sockets.gateway.frames("alice-1")].count("MessageUpdated") == 1
    # And every reader of the message sees version 2: by id, history, the AI's context
    repository = root.chat_repository()
    by_id = repository.message_by_id(chat_id, poll["message_id"])
    assert by_id is not None
    assert (by_id.version, by_id.text) == (2, "v2")
    items, _ = repository.messages(chat_id, after=None, before=None, limit=50)
    (latest,) = [m for m in items if m.message_id == poll["message_id"]]
    assert (latest.version, latest.text, latest.edited_at) == (2, "v2", by_id.edited_at)


def test_an_extension_message_posted_before_history_became_the_log_cannot_be_acted_on(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    # Given an id pointer written before the log was the history (a message sequence, no event's)
    chat_id = chat_with(api, bus, alice, bob, extensions=())
    old = str(uuid.uuid4())
    IdempotencyRecord(message_id_key(chat_id, old), data=json.dumps({"sequence": 1})).save()
    # Then it is not found for actions (nor updates: the same lookup), like w19a's own older messages
    assert root.chat_repository().message_by_id(chat_id, old) is None
    assert_error(act(api, bob, chat_id, old, "vote", "b1", option="pizza"), 404, "message_not_found")


def test_an_update_counted_below_what_the_message_shows_is_dropped(api: Api, bus: Bus, alice: User) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)

        def update(request_id: str, text: str, revision: int) -> None:
            request = ExtensionMessageUpdateRequested(
                extension_id="lunch",
                request_id=request_id,
                message_id=poll["message_id"],
                text=text,
                revision=revision,
            )
            root.extension_runtime().publish([new_event(request, chat_id=chat_id, actor=bot.actor)])
            bus.pump()

        # When the newer state (revision 2) reaches the core before the older one (revision 1)
        update("u-b", "Carol voted, closed", 2)
        update("u-a", "Bob voted", 1)
        update("u-again", "same revision", 2)
        repository = root.chat_repository()
        shown = repository.message_by_id(chat_id, poll["message_id"])
        # Then the older states are dropped, not shown (and not retried: the bus is drained)
        assert shown is not None
        assert (shown.version, shown.text) == (2, "Carol voted, closed")
        updated = [
            e
            for e in api.get(f"/chats/{chat_id}/events", alice).json["items"]
            if e["metadata"]["event_type"] == "MessageUpdated"
        ]
        assert len(updated) == 1
        # And a newer one goes through
        update("u-c", "Dan voted", 3)
        latest = repository.message_by_id(chat_id, poll["message_id"])
        assert latest is not None
        assert (latest.version, latest.text) == (3, "Dan voted")
        assert repository.message_revision(chat_id, poll["message_id"]) == 3
    # And a write that lost the race to a newer revision fails in its transaction (retried from a
    # fresh read, which sees it stale)
    loaded = repository.load(chat_id)
    assert loaded is not None
    late = latest.model_copy(update={"version": 4, "text": "late"})
    with pytest.raises(ConcurrentWriteError):
        repository.commit(
            loaded, Outcome(chat=loaded.chat, updated=late, update_revision=3), [], now=latest.created_at
        )
    kept = repository.message_by_id(chat_id, poll["message_id"])
    assert kept is not None
    assert kept.text == "Dan voted"


def test_a_client_action_id_reused_on_another_message_is_refused_naming_it(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        first = post_the_poll(api, bus, bot, chat_id, alice)
        assert api.send(alice, chat_id, "lunch").status == 201
        assert True in deliver(bot, bus.emitted(), **{"detail-type": "MessageStored"})
        bus.pump()
        messages = api.get(f"/chats/{chat_id}/messages", alice).json["items"]
        (second,) = [m for m in messages if m.get("blocks") and m["message_id"] != first["message_id"]]
        assert act(api, bob, chat_id, first["message_id"], "vote", "click-1", option="sushi").status == 202
        # When Bob's client reuses the id on another message, Then it is a 422 naming the field, not a 500
        reused = act(api, bob, chat_id, second["message_id"], "vote", "click-1", option="pizza")
        assert_error(reused, 422, "invalid_request", field="client_action_id")
    assert len(submitted(bus)) == 1


def test_an_update_in_a_completed_chat_is_refused_and_recorded_never_retried(
    api: Api, bus: Bus, alice: User, bob: User
) -> None:
    bot = lunch_bot()
    with registered(bot):
        chat_id = chat_with(api, bus, alice, bob, extensions=("lunch",))
        poll = post_the_poll(api, bus, bot, chat_id, alice)
        assert api.post(f"/chats/{chat_id}/complete", alice).status == 200
        bus.pump()

        # When the bot closes its poll after the chat was completed (a late vote, a timer)
        update = ExtensionMessageUpdateRequested(
            extension_id="lunch", request_id="r-late", message_id=poll["message_id"], text="closed"
        )
        root.extension_runtime().publish([new_event(update, chat_id=chat_id, actor=bot.actor)])
        bus.pump()

    # Then the message stays as the chat ended, and the refusal (acked, never retried) is in the log
    events = api.get(f"/chats/{chat_id}/events", alice).json["items"]
    reasons = [e["data"]["reason"] for e in events if e["metadata"]["event_type"] == "ExtensionEventRejected"]
    assert [r.split(":")[0] for r in reasons] == ["chat_completed"]
    (message,) = [m for m in api.get(f"/chats/{chat_id}/messages", alice).json["items"] if m.get("blocks")]
    assert (message["text"], message.get("version", 1)) == (poll["text"], poll.get("version", 1))
