"""The extension store's contract (README "The store's contract"), on the in-memory store tests use
and on DynamoDB (moto): the same cases, the same answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parley.adapters.extensions import ExtensionState
from parley.adapters.memory import InMemoryPublisher, InMemoryStore
from parley.catalog import CORE_SOURCE, Actor, Envelope, MessageStored, MessageView, new_event
from parley.domain import extensions as installs
from parley.errors import ConcurrentWriteError, PublishError
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension, Runtime
from parley.extensions.store import MAX_WRITES, Backend, StagedStore, StoreLimitError, StoreValueError, Write
from tests.unit.chats import OWNER, at, new_chat

Backends = Callable[[str], Backend]


@pytest.fixture(params=["memory", "dynamodb"])
def backends(request: pytest.FixtureRequest) -> Iterator[Backends]:
    """A backend per chat of one extension, as ``Runtime.state`` makes them."""
    if request.param == "memory":
        stores: dict[str, InMemoryStore] = {}
        yield lambda chat_id: stores.setdefault(chat_id, InMemoryStore())
    else:
        request.getfixturevalue("aws")
        yield lambda chat_id: ExtensionState("standup", chat_id)


def committed(backend: Backend, event_id: str, change: Callable[[StagedStore], None]) -> None:
    store = StagedStore(backend)
    change(store)
    backend.commit(event_id, store.writes, [], keep_seconds=60)


def test_values_are_json_on_every_backend(backends: Backends) -> None:
    backend = backends("chat-1")
    committed(backend, "e1", lambda s: s.put("v", {"pair": (1, 2), 3: "three", "nested": [{"ok": True}]}))
    assert StagedStore(backend).get("v") == {"pair": [1, 2], "3": "three", "nested": [{"ok": True}]}
    for bad in ({1, 2}, b"bytes", float("nan"), object(), "x" * 400_000):
        with pytest.raises(StoreValueError):
            StagedStore(backend).put("bad", bad)


def test_a_handler_reads_its_own_writes_but_nothing_lands_before_the_commit(backends: Backends) -> None:
    backend = backends("chat-1")
    store = StagedStore(backend)
    store.put("a", [1])
    assert store.update("a", lambda v: [*(v or []), 2]) == [1, 2]
    assert store.get("a") == [1, 2]
    assert StagedStore(backend).get("a") is None  # another delivery sees nothing yet
    backend.commit("e1", store.writes, [], keep_seconds=60)
    assert StagedStore(backend).get("a") == [1, 2]


def test_delete_removes_a_key(backends: Backends) -> None:
    backend = backends("chat-1")
    committed(backend, "e1", lambda s: s.put("a", 1))
    committed(backend, "e2", lambda s: s.delete("a"))
    assert StagedStore(backend).get("a") is None


def test_update_is_compare_and_set_and_a_lost_race_commits_nothing(backends: Backends) -> None:
    backend = backends("chat-1")
    committed(backend, "e0", lambda s: s.put("other", "kept"))
    first, second = StagedStore(backend), StagedStore(backend)
    first.update("count", lambda v: (v or 0) + 1)
    second.update("count", lambda v: (v or 0) + 1)
    second.put("other", "from the loser")
    backend.commit("e1", first.writes, [], keep_seconds=60)
    with pytest.raises(ConcurrentWriteError):
        backend.commit("e2", second.writes, [], keep_seconds=60)
    assert StagedStore(backend).get("count") == 1
    assert StagedStore(backend).get("other") == "kept"  # all or nothing


def test_put_is_a_blind_write_that_wins_over_a_concurrent_update(backends: Backends) -> None:
    backend = backends("chat-1")
    reader, writer = StagedStore(backend), StagedStore(backend)
    reader.update("n", lambda v: (v or 0) + 1)
    writer.put("n", 10)
    backend.commit("e1", reader.writes, [], keep_seconds=60)
    backend.commit("e2", writer.writes, [], keep_seconds=60)  # no condition: it overwrites
    assert StagedStore(backend).get("n") == 10


def one_more_vote(poll: Any) -> dict[str, int]:
    return {"votes": poll["votes"] + 1}


def test_a_key_put_blindly_is_then_updated_compare_and_set(backends: Backends) -> None:
    # Given a key a delivery wrote with a blind put (the poll's row when it starts)
    backend = backends("chat-1")
    committed(backend, "e1", lambda s: s.put("poll", {"votes": 0}))
    # When two later deliveries update it from the same read, Then the first commits
    first, second = StagedStore(backend), StagedStore(backend)
    first.update("poll", one_more_vote)
    second.update("poll", one_more_vote)
    backend.commit("e2", first.writes, [], keep_seconds=60)
    # And the second lost the race (it runs again on fresh state): no vote is counted twice or lost
    with pytest.raises(ConcurrentWriteError):
        backend.commit("e3", second.writes, [], keep_seconds=60)
    again = StagedStore(backend)
    again.update("poll", one_more_vote)
    backend.commit("e3", again.writes, [], keep_seconds=60)
    assert StagedStore(backend).get("poll") == {"votes": 2}


def test_one_delivery_writes_at_most_one_transaction_of_keys(backends: Backends) -> None:
    store = StagedStore(backends("chat-1"))
    for n in range(MAX_WRITES):
        store.put(f"k{n}", n)
    store.put("k0", "again")  # the same key again is still one write
    with pytest.raises(StoreLimitError):
        store.put("one-too-many", 1)


def test_committed_outputs_stay_pending_until_completed(backends: Backends) -> None:
    backend = backends("chat-1")
    assert backend.claim("e1", lease_seconds=30, keep_seconds=60)
    backend.commit("e1", [Write("a", "1")], [{"data": {"x": 1}}], keep_seconds=60)
    assert not backend.claim("e1", lease_seconds=30, keep_seconds=60)
    assert backend.pending("e1") == [{"data": {"x": 1}}]
    backend.complete("e1", keep_seconds=60)
    assert backend.pending("e1") is None


# -- the bug that made this contract: "record, then post if complete" under a failed publish -------


STANDUP = Manifest(
    id="standup",
    version="1.0.0",
    name="Standup",
    description="Keeps each person's answer and says when all have answered.",
    events=("MessageStored",),
    capabilities=frozenset({"messages:write"}),
)


def standup(runtime: Runtime) -> Extension[Any]:
    extension: Extension[Any] = Extension(STANDUP, runtime=runtime)

    @extension.on("MessageStored")
    def answer(event: Envelope[Any], ctx: Context[Any]) -> None:
        # the obvious code: record the answer once, and post when the last one arrives
        answers = ctx.store.get("answers") or {}
        sender = event.data.message.sender_id
        if sender in answers:
            return
        answers[sender] = event.data.message.text
        ctx.store.put("answers", answers)
        if len(answers) == 2:
            ctx.post_message("Everyone has answered.")

    return extension


def answered(sender: str, sequence: int) -> dict[str, Any]:
    message = MessageView(
        message_id=f"m-{sequence}",
        chat_id="chat-1",
        sequence=sequence,
        sender_id=sender,
        sender_name=sender,
        sender_kind="human",
        text="done",
        created_at=at(2),
    )
    envelope = new_event(
        MessageStored(message=message, turn_mode="free", turn_number=0),
        chat_id="chat-1",
        actor=Actor(id=sender, kind="user"),
    ).with_sequence(10 + sequence)
    return {"source": CORE_SOURCE, "detail-type": "MessageStored", "detail": envelope.to_detail()}


def test_a_failed_publish_never_loses_the_completion(backends: Backends) -> None:
    chat = installs.put_install(
        new_chat("free"),
        user_id=OWNER,
        extension_id="standup",
        version="1",
        enabled=True,
        config={},
        now=at(1),
    ).chat
    bus = InMemoryPublisher()
    runtime = Runtime(
        load_chat=lambda chat_id: chat,
        registry=lambda: {"standup": STANDUP.document()},
        publish=bus.publish,
        state=lambda _, chat_id: backends(chat_id),
    )
    extension = standup(runtime)
    extension.deliver(answered("alice", 1))

    # When Bob's answer completes the standup but the bus refuses the post, and the queue retries
    bus.fail_next = PublishError("bus unavailable")
    last = answered("bob", 2)
    with pytest.raises(PublishError):
        extension.deliver(last)
    extension.deliver(last)

    # Then the completion is posted, once, with the id the first attempt had
    posts = [e for e in bus.published if e.event_type == "ExtensionMessageRequested"]
    assert [p.data.text for p in posts] == ["Everyone has answered."]
    assert StagedStore(backends(chat.chat_id)).get("answers") == {"alice": "done", "bob": "done"}
    extension.deliver(last)  # a later duplicate changes nothing
    assert len([e for e in bus.published if e.event_type == "ExtensionMessageRequested"]) == 1


def test_an_update_that_lost_a_race_runs_the_handler_again_on_fresh_state(backends: Backends) -> None:
    chat = installs.put_install(
        new_chat("free"),
        user_id=OWNER,
        extension_id="standup",
        version="1",
        enabled=True,
        config={},
        now=at(1),
    ).chat
    backend = backends(chat.chat_id)
    runtime = Runtime(
        load_chat=lambda chat_id: chat,
        registry=lambda: {"standup": STANDUP.document()},
        publish=InMemoryPublisher().publish,
        state=lambda _, chat_id: backend,
    )
    extension: Extension[Any] = Extension(STANDUP, runtime=runtime)
    runs: list[int] = []

    @extension.on("MessageStored")
    def count(event: Envelope[Any], ctx: Context[Any]) -> None:
        runs.append(ctx.store.update("n", lambda v: (v or 0) + 1))
        if len(runs) == 1:  # a concurrent delivery commits the key first
            backend.update("n", lambda v: (v or 0) + 10)

    assert extension.deliver(answered("alice", 1))
    assert runs == [1, 11]
    assert StagedStore(backend).get("n") == 11
