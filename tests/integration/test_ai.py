"""AI participants on moto: requests, the streamed reply, its records, failures and turn time-outs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.local.dispatch import LambdaContext, deliver_once, sqs_event
from infra.local.dispatcher import Dispatcher
from infra.local.functions import load_handler
from parley import root
from parley.adapters.tables import ChatRecord
from parley.ai.providers import ModelRequest, StreamEvent, TextDelta, Usage
from parley.ai.responder import AIResponder
from parley.consumers import BatchFailedError
from parley.errors import ProviderError, StoreError
from parley.routing import route
from parley.services.chats import ChatService
from tests.support.api import Api, User, expire_idempotency_records
from tests.support.bus import Bus
from tests.support.sockets import Gateway, Sockets

ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}


@pytest.fixture(autouse=True)
def _fast_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local provider without its pacing, and a cancel check on every chunk."""
    monkeypatch.setenv("PARLEY_LOCAL_AI_CHUNK_DELAY_MS", "0")
    monkeypatch.setenv("PARLEY_AI_CANCEL_CHECK_SECONDS", "0")
    root.reset()


def data_of(bus: Bus, event_type: str) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in bus.emitted() if e["detail-type"] == event_type]


def messages(api: Api, user: User, chat_id: str) -> list[tuple[int, str, str]]:
    items = api.get(f"/chats/{chat_id}/messages", user).json["items"]
    return [(m["sequence"], m["sender_id"], m["text"]) for m in items]


def holder(api: Api, user: User, chat_id: str) -> str | None:
    found: str | None = api.get(f"/chats/{chat_id}", user).json["turn"]["holder_id"]
    return found


def deliver_ai(messages: list[dict[str, Any]]) -> dict[str, Any]:
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:parley-ai_responder", "us-east-1")
    result: dict[str, Any] = load_handler("ai_responder")(event, LambdaContext.for_function("ai_responder"))
    return result


def test_a_mention_gets_a_streamed_reply_stored_in_sequence_with_its_completion(
    api: Api, bus: Bus, gateway: Gateway, alice: User, bob: User
) -> None:
    # Given a free chat of Alice, Bob and the Oracle (on_mention by default), Bob's socket subscribed
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    sockets = Sockets(api, gateway)
    sockets.open(bob, "bob-1")
    sockets.subscribe("bob-1", chat_id)
    bus.pump()

    # When Alice mentions the Oracle and the bus settles
    api.send(alice, chat_id, "@Oracle what has keys but opens no locks?")
    bus.pump()

    # Then the Oracle's reply follows Alice's message in sequence
    history = messages(api, alice, chat_id)
    assert [(s, who) for s, who, _ in history] == [(1, alice.user_id), (2, "oracle")]
    assert history[1][2].startswith("Alice, you said:")
    # And the request, the reply and its completion are on the bus, the completion naming the reply
    (requested,) = data_of(bus, "AIResponseRequested")
    assert (requested["trigger"], requested["participant_id"], requested["after_message_sequence"]) == (
        "mention",
        "oracle",
        1,
    )
    (completed,) = data_of(bus, "AIResponseCompleted")
    assert (completed["request_id"], completed["message_sequence"]) == (requested["request_id"], 2)
    assert completed["output_tokens"] > 0
    assert completed["input_tokens"] > 0
    assert completed["duration_ms"] >= completed["time_to_first_token_ms"] >= 0
    # And Bob's socket saw Started, then several chunks, then the stored reply and the completion
    frames = gateway.frames("bob-1")
    types = [f["type"] for f in frames]
    started = types.index("AIResponseStarted")
    chunks = [f for f in frames if f["type"] == "AIResponseChunk"]
    assert len(chunks) >= 2
    assert [c["data"]["index"] for c in chunks] == list(range(len(chunks)))
    assert "".join(c["data"]["text"] for c in chunks) == history[1][2]
    assert all("sequence" not in c for c in chunks)
    assert started < types.index("AIResponseChunk") < types.index("AIResponseCompleted")
    assert types.count("AIResponseStarted") == 1
    reply_frame = next(f for f in frames if f["type"] == "MessageStored" and f["actor"]["id"] == "oracle")
    assert reply_frame["data"]["message"]["sequence"] == 2


@pytest.mark.parametrize("action", ["reject", "redact"])
def test_a_moderated_chat_never_streams_a_reply_its_hooks_have_not_ruled_on(
    api: Api, bus: Bus, gateway: Gateway, alice: User, bob: User, action: str
) -> None:
    # Given a chat with the Oracle whose moderation blocks "you said" (the local model's replies
    # start with it), Bob's socket subscribed
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    config = {"blocked_terms": ["you said"], "action": action}
    put = api.put(f"/chats/{chat_id}/extensions/moderation", alice, body={"enabled": True, "config": config})
    assert put.status == 201, put.text
    sockets = Sockets(api, gateway)
    sockets.open(bob, "bob-1")
    sockets.subscribe("bob-1", chat_id)
    bus.pump()

    # When Alice asks the Oracle and the bus settles
    api.send(alice, chat_id, "@Oracle what has keys?")
    bus.pump()

    # Then Bob's socket saw the reply start, but no draft: not one chunk, nowhere the blocked text
    frames = gateway.frames("bob-1")
    types = [f["type"] for f in frames]
    assert "AIResponseStarted" in types
    assert "AIResponseChunk" not in types
    assert all("Alice, you said" not in json.dumps(f) for f in frames)  # the reply's own words
    # and then only what moderation allowed: the failure, or the redacted reply
    replies = [
        f["data"]["message"]["text"]
        for f in frames
        if f["type"] == "MessageStored" and f["actor"]["id"] == "oracle"
    ]
    if action == "reject":
        assert replies == []
        assert [f["data"]["reason"] for f in frames if f["type"] == "AIResponseFailed"] == ["cancelled"]
    else:
        assert len(replies) == 1
        assert replies[0].startswith("Alice, ***:")


def test_a_duplicate_request_produces_one_reply(api: Api, bus: Bus, alice: User) -> None:
    # Given Alice mentioned the Oracle, and the request waits on the responder's queue
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    api.send(alice, chat_id, "hello @Oracle")
    bus.raw_queue("turns")  # the broadcaster reads the events table's stream: it has no queue
    queued = bus.raw_queue("ai_responder")
    assert len(queued) == 1

    # When the same request is delivered twice in a row, then once more
    assert deliver_ai(queued)["batchItemFailures"] == []
    assert deliver_ai(queued)["batchItemFailures"] == []
    assert deliver_ai(queued)["batchItemFailures"] == []

    # Then exactly one reply was stored and one completion emitted
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1


def test_round_robin_with_an_ai_passes_the_floor_to_it_and_back(api: Api, bus: Bus, alice: User) -> None:
    # Given a round-robin chat of Alice and the Oracle
    chat_id = api.create_chat(alice, turn_mode="round_robin", ai_participants=[ORACLE])["chat_id"]
    bus.pump()
    assert holder(api, alice, chat_id) == alice.user_id

    # When Alice posts twice, each time after the bus settles
    api.send(alice, chat_id, "first riddle")
    bus.pump()
    assert api.send(alice, chat_id, "second riddle").status == 201
    bus.pump()

    # Then the Oracle answered on its turn and the floor came back to Alice each time
    history = messages(api, alice, chat_id)
    assert [who for _, who, _ in history] == [alice.user_id, "oracle", alice.user_id, "oracle"]
    assert holder(api, alice, chat_id) == alice.user_id
    reasons = [(c["holder_id"], c["reason"]) for c in data_of(bus, "TurnChanged")]
    assert reasons[-4:] == [("oracle", "message"), (alice.user_id, "message")] * 2
    assert [r["trigger"] for r in data_of(bus, "AIResponseRequested")] == ["turn", "turn"]


class Failing:
    name = "failing"

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        yield TextDelta("Let me th")
        raise ProviderError("model_error", "modelStreamErrorException: the model broke")


class Broken:
    """A provider with a bug: any exception must still end the reply and free the turn."""

    name = "broken"

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        raise RuntimeError("bug")


class Slow:
    """Chunks that arrive later than the responder's time-out allows."""

    name = "slow"

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        for word in ("one", " two", " three", " four"):
            time.sleep(0.06)
            yield TextDelta(word)
        yield Usage(1, 4)


@pytest.mark.parametrize(
    ("provider", "env", "reason"),
    [
        pytest.param(Failing(), {}, "model_error", id="model-error"),
        pytest.param(Slow(), {"PARLEY_AI_TIMEOUT_SECONDS": "0.1"}, "timeout", id="time-out"),
        pytest.param(Broken(), {}, "model_error", id="provider-bug"),
    ],
)
def test_a_failed_reply_is_recorded_and_the_turn_moves_on(
    api: Api,
    bus: Bus,
    alice: User,
    monkeypatch: pytest.MonkeyPatch,
    provider: Any,
    env: dict[str, str],
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a round-robin chat of Alice and the Oracle, whose model fails in a given way
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root.reset()
    monkeypatch.setattr(root, "provider_for", lambda participant: provider)
    chat_id = api.create_chat(alice, turn_mode="round_robin", ai_participants=[ORACLE])["chat_id"]
    bus.pump()

    # When Alice posts and the Oracle's turn comes
    api.send(alice, chat_id, "your turn, Oracle")
    bus.pump()

    # Then AIResponseFailed says why, nothing was stored, and the floor is back with Alice (ai_failed)
    (failed,) = data_of(bus, "AIResponseFailed")
    assert (failed["participant_id"], failed["reason"]) == ("oracle", reason)
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id]
    last = data_of(bus, "TurnChanged")[-1]
    assert (last["holder_id"], last["previous_holder_id"], last["reason"]) == (
        alice.user_id,
        "oracle",
        "ai_failed",
    )
    assert api.send(alice, chat_id, "fine, I will go on").status == 201
    # And ai_responder counted the failure in its EMF metrics, which the failure-rate alarm reads
    assert emitted_metrics(capsys.readouterr().out).count("AIResponderFailed") == 1


def emitted_metrics(stdout: str) -> list[str]:
    """The metric names of every EMF blob Powertools printed."""
    names: list[str] = []
    for line in stdout.splitlines():
        if '"_aws"' in line:
            blob = json.loads(line)
            names += [m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return names


def test_a_stored_reply_is_counted_for_the_alarm(
    api: Api, bus: Bus, alice: User, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a free chat with the Oracle, When Alice mentions it and the bus settles
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    api.send(alice, chat_id, "@Oracle hello")
    bus.pump()

    # Then ai_responder counted one completed reply and no failure
    names = emitted_metrics(capsys.readouterr().out)
    assert (names.count("AIResponderCompleted"), names.count("AIResponderFailed")) == (1, 0)


def test_a_chat_completed_mid_reply_stops_the_stream(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model that, mid-stream, sees the chat completed by its owner
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    sent: list[str] = []

    class CompletedMidway:
        name = "completed-midway"

        def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
            for n in range(10):
                if n == 2:
                    assert api.post(f"/chats/{chat_id}/complete", alice).status == 200
                sent.append(str(n))
                yield TextDelta(f"{n} ")

    monkeypatch.setattr(root, "provider_for", lambda participant: CompletedMidway())

    # When Alice mentions the Oracle
    api.send(alice, chat_id, "@Oracle count to ten")
    bus.pump()

    # Then the stream stopped at the first check after the completion, nothing was stored,
    # and the reply is recorded as cancelled
    assert sent == ["0", "1", "2"]
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id]
    (failed,) = data_of(bus, "AIResponseFailed")
    assert failed["reason"] == "cancelled"


def test_an_untaken_turn_times_out_through_the_sweeper(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given Bob holds a round-robin turn
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    api.post(f"/chats/{chat_id}/members", bob)
    api.send(alice, chat_id, "over to you, Bob")
    bus.pump()
    assert holder(api, alice, chat_id) == bob.user_id
    record = ChatRecord.get(chat_id)
    assert record.turn_due is not None
    assert record.turn_deadline is not None

    # When the sweeper runs before and after the deadline
    box = root.outbox()
    deadline = datetime.fromisoformat(record.turn_deadline)
    early = ChatService(root.chat_repository(), box, clock=lambda: deadline - timedelta(seconds=1))
    late = ChatService(root.chat_repository(), box, clock=lambda: deadline + timedelta(seconds=1))
    assert early.expire_turns(now=deadline - timedelta(seconds=1)) == 0
    assert late.expire_turns(now=deadline + timedelta(seconds=1)) == 1
    assert late.expire_turns(now=deadline + timedelta(seconds=1)) == 0

    # Then the floor moved to Alice with reason timeout, and the new deadline is in the index
    assert holder(api, alice, chat_id) == alice.user_id
    last = data_of(bus, "TurnChanged")[-1]
    assert (last["holder_id"], last["reason"]) == (alice.user_id, "timeout")
    assert ChatRecord.get(chat_id).turn_deadline > record.turn_deadline


def test_a_free_chat_is_not_in_the_deadline_index(api: Api, bus: Bus, alice: User) -> None:
    # Given a round-robin chat switched to free
    chat_id = api.create_chat(alice, turn_mode="round_robin")["chat_id"]
    assert ChatRecord.get(chat_id).turn_deadline is not None
    api.patch(f"/chats/{chat_id}/settings", alice, body={"turn_mode": "free"})

    # When its item is read back
    record = ChatRecord.get(chat_id)

    # Then it carries no deadline, so the sweeper never reads it
    assert not record.turn_due
    assert not record.turn_deadline
    assert root.chat_service().expire_turns(now=datetime.now(UTC) + timedelta(days=30)) == 0


def test_a_moderator_gives_the_floor_over_http(
    api: Api, bus: Bus, alice: User, bob: User, carol: User
) -> None:
    # Given a moderated chat of Alice (owner), Bob and Carol
    chat_id = api.create_chat(alice, turn_mode="moderated")["chat_id"]
    for user in (bob, carol):
        api.post(f"/chats/{chat_id}/members", user)
    bus.pump()

    # When Bob tries to take the floor, and then Alice gives it to him
    refused = api.post(f"/chats/{chat_id}/turn", bob, body={"participant_id": bob.user_id})
    granted = api.post(f"/chats/{chat_id}/turn", alice, body={"participant_id": bob.user_id})

    # Then only the moderator may, and Bob holds the floor: Carol is refused, Bob may post
    assert refused.status == 403, refused.text
    assert granted.status == 200, granted.text
    assert granted.json["turn"]["holder_id"] == bob.user_id
    out_of_turn = api.send(carol, chat_id, "me too")
    assert out_of_turn.status == 409
    assert out_of_turn.json["error"]["details"]["turn_holder_id"] == bob.user_id
    assert api.send(bob, chat_id, "thank you, chair").status == 201
    bus.pump()
    # And once Bob has spoken, the floor rests with Alice again
    assert holder(api, alice, chat_id) == alice.user_id
    reasons = [c["reason"] for c in data_of(bus, "TurnChanged")]
    assert reasons[-2:] == ["granted", "message"]
    # And giving the floor to a stranger is refused as invalid
    stranger = api.post(f"/chats/{chat_id}/turn", alice, body={"participant_id": "user-nobody"})
    assert stranger.status == 422


# -- nothing lost, nothing doubled (issue 13) ------------------------------------------------------


def settled(queued: list[dict[str, Any]]) -> bool:
    """One delivery of the batch; False when the responder failed it (the queue would retry)."""
    try:
        return not deliver_ai(queued)["batchItemFailures"]
    except BatchFailedError:
        return False


def _queued_request(api: Api, bus: Bus, alice: User) -> tuple[str, list[dict[str, Any]]]:
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    api.send(alice, chat_id, "hello @Oracle")
    bus.raw_queue("turns")  # the broadcaster reads the events table's stream: it has no queue
    queued = bus.raw_queue("ai_responder")
    assert len(queued) == 1
    return chat_id, queued


def test_a_reply_whose_store_failed_is_answered_on_the_retry(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request waiting on the responder's queue, and the reply's write failing once
    chat_id, queued = _queued_request(api, bus, alice)
    real = ChatService.post_ai_reply
    calls: list[int] = []

    def fails_once(self: ChatService, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("the table refused the write")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ChatService, "post_ai_reply", fails_once)

    # When the request is delivered, fails, and is delivered again (the queue's retry)
    assert not settled(queued)
    assert settled(queued)

    # Then the retry answered it: one reply, one completion, no failure
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1
    assert data_of(bus, "AIResponseFailed") == []
    # and later duplicates change nothing
    assert deliver_ai(queued)["batchItemFailures"] == []
    assert len(messages(api, alice, chat_id)) == 2


def test_an_expired_lease_of_a_dead_responder_is_taken_over_once(api: Api, bus: Bus, alice: User) -> None:
    # Given a request whose first responder took the lease, then died (its lease ran out)
    chat_id, queued = _queued_request(api, bus, alice)
    request_id = json.loads(queued[0]["Body"])["detail"]["data"]["request_id"]
    lease = f"ai-request#{chat_id}#{request_id}"
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert root.chat_repository().claim(lease, now=long_ago, ttl_seconds=60) is None

    # When the queue delivers it again, twice
    assert deliver_ai(queued)["batchItemFailures"] == []
    assert deliver_ai(queued)["batchItemFailures"] == []

    # Then the second responder took the lease over and answered exactly once
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1


def test_two_concurrent_deliveries_of_one_request_produce_one_reply(api: Api, bus: Bus, alice: User) -> None:
    # Given a request waiting on the responder's queue
    chat_id, queued = _queued_request(api, bus, alice)

    # When two invocations get it at the same time, and each retries until it is settled
    def deliver_until_settled() -> None:
        for _ in range(50):
            if settled(queued):
                return
            time.sleep(0.05)
        raise AssertionError("never settled")

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(deliver_until_settled) for _ in range(2)]:
            done.result()

    # Then one reply, one completion
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1
    assert data_of(bus, "AIResponseFailed") == []


def test_a_request_failing_its_last_attempt_is_announced_as_handler_failed(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request waiting on the responder's queue, and the responder broken
    chat_id, queued = _queued_request(api, bus, alice)
    requested = json.loads(queued[0]["Body"])["detail"]["metadata"]

    def broken(self: ChatService, chat_id: str) -> None:
        raise RuntimeError("the table is gone")

    monkeypatch.setattr(ChatService, "load", broken)
    last = route("ai_responder").retry.max_attempts

    # When it fails before its last attempt, Then nothing is announced (the queue retries it)
    queued[0]["Attributes"] = {"ApproximateReceiveCount": str(last - 1)}
    assert not settled(queued)
    assert data_of(bus, "HandlerFailed") == []

    # When it fails its last attempt (SQS dead-letters it next)
    queued[0]["Attributes"] = {"ApproximateReceiveCount": str(last)}
    assert not settled(queued)

    # Then HandlerFailed names the handler, the event and the error, for operators on the bus
    [failed] = [e for e in bus.emitted() if e["detail-type"] == "HandlerFailed"]
    assert failed["detail"]["data"] == {
        "handler": "ai_responder",
        "failed_event_id": requested["event_id"],
        "failed_event_type": "AIResponseRequested",
        "error": "RuntimeError: the table is gone",
        "attempts": last,
    }
    assert failed["detail"]["metadata"]["chat_id"] == chat_id
    assert failed["detail"]["metadata"]["causation_id"] == requested["event_id"]


def test_a_request_redelivered_after_the_dedupe_window_produces_no_second_reply(
    api: Api, bus: Bus, alice: User
) -> None:
    # Given a request answered once
    chat_id, queued = _queued_request(api, bus, alice)
    assert settled(queued)
    bus.pump()

    # When every expiring idempotency record is gone (TTL, 8 days on) and the request is redriven
    expire_idempotency_records(timedelta(days=8))
    assert settled(queued)
    bus.pump()

    # Then there is still one reply and one completion, and no second stream was started
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1
    assert len(data_of(bus, "AIResponseStarted")) == 1


def test_a_request_dead_lettered_by_sqs_and_redriven_is_answered_exactly_once(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    # Given Alice mentioned the Oracle, and the responder failing every attempt
    chat_id = api.create_chat(alice, ai_participants=[ORACLE])["chat_id"]
    api.send(alice, chat_id, "hello @Oracle")
    bus.raw_queue("turns")  # the broadcaster reads the events table's stream: it has no queue
    ai = route("ai_responder")
    sqs = boto3.client("sqs", region_name="us-east-1")
    handler = load_handler(ai.function)
    # the route's 90 s visibility (a reply's length) shortened, so the retries come within the test
    sqs.set_queue_attributes(QueueUrl=aws.queue_urls[ai.name], Attributes={"VisibilityTimeout": "1"})

    def broken(self: Any, envelope: Any) -> str:
        raise RuntimeError("the responder is broken")

    # When moto's queue delivers it until its real maxReceiveCount moves it to the DLQ
    with monkeypatch.context() as patch:
        patch.setattr(AIResponder, "respond", broken)
        deadline = time.monotonic() + 30
        while depth(sqs, aws.dlq_urls[ai.name]) == 0:
            assert time.monotonic() < deadline, "never dead-lettered"
            deliver_once(sqs, aws.queue_urls[ai.name], handler, ai.function, region="us-east-1")
            time.sleep(0.2)
    assert depth(sqs, aws.queue_urls[ai.name]) == 0
    assert len(data_of(bus, "HandlerFailed")) == 1
    assert messages(api, alice, chat_id) == [(1, alice.user_id, "hello @Oracle")]

    # When the responder is fixed and the dead letters are redriven
    assert Dispatcher(aws, "us-east-1").redrive()[ai.name] == 1
    bus.pump()

    # Then the request was answered exactly once, and nothing is left in a queue or DLQ
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1
    assert data_of(bus, "AIResponseFailed") == []
    assert depth(sqs, aws.dlq_urls[ai.name]) == 0
    assert depth(sqs, aws.queue_urls[ai.name]) == 0


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_an_answered_request_is_marked_done_even_when_that_write_is_throttled(
    api: Api, bus: Bus, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply is committed; the write that marks the request done fails twice (throttled past the
    SDK's retries). The responder insists, so no lease is left to expire into a second attempt that
    could end the request again (make chaos saw a failure recorded after a stored reply)."""
    chat_id, queued = _queued_request(api, bus, alice)
    repository = type(root.chat_repository())
    real = repository.finish_claim
    calls: list[int] = []

    def throttled_twice(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise StoreError("throttled")
        real(self, *args, **kwargs)

    monkeypatch.setattr(repository, "finish_claim", throttled_twice)
    monkeypatch.setattr("parley.ai.responder.FINISH_BACKOFF_SECONDS", 0.0)

    # When the request is delivered: answered, and marked done on the third try
    assert settled(queued)
    assert len(calls) == 3

    # Then a redelivery is a duplicate: one reply, one completion, no failure
    assert settled(queued)
    assert [who for _, who, _ in messages(api, alice, chat_id)] == [alice.user_id, "oracle"]
    assert len(data_of(bus, "AIResponseCompleted")) == 1
    assert data_of(bus, "AIResponseFailed") == []
