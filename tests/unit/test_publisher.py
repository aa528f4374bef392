"""EventBridgePublisher against a scripted fake client: batching, size limits and per-entry retries."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from parley.adapters.eventbridge import (
    MAX_ENTRIES_PER_REQUEST,
    MAX_REQUEST_BYTES,
    EventBridgePublisher,
    batches,
    entry_size,
    to_entry,
)
from parley.catalog import Actor, Envelope, ExtensionEvent, new_event, parse_detail
from parley.domain.commands import post_message
from parley.domain.model import MAX_MESSAGE_LENGTH, ChatSettings
from parley.errors import EventTooLargeError, PublishError
from tests.unit.chats import OWNER, T0, new_chat
from tests.unit.samples import SAMPLE_TIME, message_stored

BUS = "parley-test"
ALICE = Actor(id="user-alice", kind="user")


class FakeEventsClient:
    """Records every put_events request and answers per entry from a script.

    ``script`` maps an event id to the error codes its successive sends get; once the codes run out
    (or for unscripted entries) the entry is delivered.
    """

    def __init__(self, script: Mapping[str, Sequence[str]] | None = None) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.delivered: list[str] = []
        self._script = {event_id: list(codes) for event_id, codes in (script or {}).items()}

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(list(Entries))
        results: list[dict[str, str]] = []
        for entry in Entries:
            event_id = json.loads(entry["Detail"])["metadata"]["event_id"]
            codes = self._script.get(event_id, [])
            if codes:
                code = codes.pop(0)
                results.append({"ErrorCode": code, "ErrorMessage": f"{code} for {event_id}"})
            else:
                self.delivered.append(event_id)
                results.append({"EventId": f"eb-{event_id}"})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedEntryCount": failed, "Entries": results}

    @property
    def request_sizes(self) -> list[int]:
        return [len(r) for r in self.requests]


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def events(count: int, text: str = "hello") -> list[Envelope[Any]]:
    return [
        new_event(message_stored(f"{text}{i}"), chat_id="chat-1", actor=ALICE, occurred_at=SAMPLE_TIME)
        for i in range(count)
    ]


def ids(envelopes: Sequence[Envelope[Any]]) -> list[str]:
    return [e.metadata.event_id for e in envelopes]


def publisher(
    client: FakeEventsClient, sleep: SleepRecorder, *, max_attempts: int = 3, backoff: float = 0.5
) -> EventBridgePublisher:
    return EventBridgePublisher(
        BUS, client=client, max_attempts=max_attempts, backoff_seconds=backoff, sleep=sleep
    )


# --------------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------------


def test_twenty_five_events_go_out_in_three_requests_of_at_most_ten() -> None:
    # Given 25 small events
    envelopes = events(25)
    client, sleep = FakeEventsClient(), SleepRecorder()

    # When they are published
    publisher(client, sleep).publish(envelopes)

    # Then three requests carry them, in order, each once, without any waiting
    assert client.request_sizes == [10, 10, 5]
    assert client.delivered == ids(envelopes)
    assert sleep.delays == []


def test_publishing_nothing_sends_nothing() -> None:
    # Given no events
    client, sleep = FakeEventsClient(), SleepRecorder()

    # When they are published
    publisher(client, sleep).publish([])

    # Then no request is made
    assert client.requests == []


def test_requests_are_split_before_they_pass_256_kib() -> None:
    # Given five events of about 90 KB each (three would exceed one request)
    envelopes = events(5, text="x" * 90_000)
    client, sleep = FakeEventsClient(), SleepRecorder()

    # When they are published
    publisher(client, sleep).publish(envelopes)

    # Then requests hold two entries each, every request within the limit, all delivered in order
    assert client.request_sizes == [2, 2, 1]
    for request in client.requests:
        assert sum(entry_size(e) for e in request) <= MAX_REQUEST_BYTES
    assert client.delivered == ids(envelopes)


def test_requests_are_filled_as_far_as_the_limits_allow() -> None:
    # Given entries of mixed sizes
    entries = [to_entry(e, BUS) for e in [*events(3, "y" * 100_000), *events(12)]]

    # When they are split into requests
    split = list(batches(entries))

    # Then no request could have taken the next entry too, and order is preserved
    assert [e for batch in split for e in batch] == entries
    for batch, following in itertools.pairwise(split):
        total = sum(entry_size(e) for e in batch)
        assert len(batch) <= MAX_ENTRIES_PER_REQUEST
        assert total <= MAX_REQUEST_BYTES
        assert len(batch) == MAX_ENTRIES_PER_REQUEST or total + entry_size(following[0]) > MAX_REQUEST_BYTES


def test_size_is_counted_in_utf8_bytes_not_characters() -> None:
    # Given three entries whose Detail is 30,000 emoji: 30 K characters but 120 KB of UTF-8
    entries = [{"Source": "parley.core", "DetailType": "Raw", "Detail": "🙂" * 30_000} for _ in range(3)]

    # When their size is measured and they are split into requests
    size = entry_size(entries[0])
    split = list(batches(entries))

    # Then each counts 120 KB, so they need two requests as EventBridge counts bytes
    assert size == len("parley.core") + len("Raw") + 4 * 30_000
    assert [len(b) for b in split] == [2, 1]


def test_an_event_over_256_kib_fails_alone_and_the_others_are_still_sent() -> None:
    # Given a valid small event followed by one whose detail alone passes 256 KiB
    small = events(1)
    huge = new_event(message_stored("z" * (MAX_REQUEST_BYTES + 1)), chat_id="chat-1", actor=ALICE)
    client, sleep = FakeEventsClient(), SleepRecorder()

    # When they are published together
    # Then the publisher refuses the big one, naming it, without holding back the small one
    with pytest.raises(EventTooLargeError, match="over EventBridge") as excinfo:
        publisher(client, sleep).publish([*small, huge])
    failed = excinfo.value.details["failed"]
    assert [(f["event_id"], f["code"]) for f in failed] == [(huge.metadata.event_id, "EventTooLarge")]
    assert excinfo.value.code == "event_too_large"
    assert isinstance(excinfo.value, PublishError)
    assert client.delivered == [small[0].metadata.event_id]


def test_a_lone_event_over_256_kib_is_refused_before_anything_is_sent() -> None:
    # Given one event whose detail passes 256 KiB
    huge = new_event(message_stored("z" * (MAX_REQUEST_BYTES + 1)), chat_id="chat-1", actor=ALICE)
    client, sleep = FakeEventsClient(), SleepRecorder()

    # When it is published, Then nothing is sent at all
    with pytest.raises(EventTooLargeError):
        publisher(client, sleep).publish([huge])
    assert client.requests == []


def test_every_message_the_domain_accepts_can_be_published() -> None:
    # Given a chat configured for the longest messages its settings allow
    chat = new_chat("free", settings=ChatSettings(max_message_length=MAX_MESSAGE_LENGTH))
    texts = {
        "russian": ("Привет " * MAX_MESSAGE_LENGTH)[:MAX_MESSAGE_LENGTH],
        "emoji": "🙂" * MAX_MESSAGE_LENGTH,  # 4 bytes of UTF-8 each
        "control": "\x01" * MAX_MESSAGE_LENGTH,  # escaped as \u0001 in JSON: 6 bytes each
    }
    for name, text in texts.items():
        # When a member posts a text at the limit
        outcome = post_message(
            chat, sender_id=OWNER, text=text, client_message_id=None, message_id=name, now=T0
        )
        envelope = new_event(outcome.events[0], chat_id=chat.chat_id, actor=ALICE)
        client, sleep = FakeEventsClient(), SleepRecorder()

        # Then the MessageStored committed with it can also be published
        publisher(client, sleep).publish([envelope])
        assert client.delivered == [envelope.metadata.event_id], name


# --------------------------------------------------------------------------------------------------
# Per-entry failures
# --------------------------------------------------------------------------------------------------


def test_a_throttled_entry_is_retried_alone_and_delivered() -> None:
    # Given three events, the second of which is throttled once
    envelopes = events(3)
    throttled = envelopes[1].metadata.event_id
    client = FakeEventsClient({throttled: ["ThrottlingException"]})
    sleep = SleepRecorder()

    # When they are published
    publisher(client, sleep, backoff=0.5).publish(envelopes)

    # Then only the throttled entry is sent again, after one backoff, and every event arrives once
    assert client.request_sizes == [3, 1]
    assert json.loads(client.requests[1][0]["Detail"])["metadata"]["event_id"] == throttled
    assert sorted(client.delivered) == sorted(ids(envelopes))
    assert len(client.delivered) == 3
    assert sleep.delays == [0.5]


@pytest.mark.parametrize("code", ["InternalFailure", "InternalException", "ServiceUnavailable"])
def test_transient_service_errors_are_retried(code: str) -> None:
    # Given an event that fails once with a transient error
    envelopes = events(1)
    client, sleep = FakeEventsClient({envelopes[0].metadata.event_id: [code]}), SleepRecorder()

    # When it is published
    publisher(client, sleep).publish(envelopes)

    # Then the second attempt delivers it
    assert client.request_sizes == [1, 1]
    assert client.delivered == ids(envelopes)


def test_a_non_retryable_failure_is_reported_while_the_rest_of_the_batch_is_delivered() -> None:
    # Given three events, the second of which EventBridge refuses outright
    envelopes = events(3)
    refused = envelopes[1].metadata.event_id
    client, sleep = FakeEventsClient({refused: ["InvalidArgument"]}), SleepRecorder()

    # When they are published
    with pytest.raises(PublishError, match="1 of 3 events were not published") as excinfo:
        publisher(client, sleep).publish(envelopes)

    # Then the error names exactly the refused event, it was not retried, and the others arrived
    assert type(excinfo.value) is PublishError
    assert excinfo.value.details["failed"] == [
        {
            "event_id": refused,
            "event_type": "MessageStored",
            "code": "InvalidArgument",
            "message": f"InvalidArgument for {refused}",
        }
    ]
    assert client.request_sizes == [3]
    assert client.delivered == [envelopes[0].metadata.event_id, envelopes[2].metadata.event_id]
    assert sleep.delays == []


def test_retryable_and_non_retryable_failures_in_one_response() -> None:
    # Given one throttled and one refused event among four
    envelopes = events(4)
    throttled, refused = envelopes[0].metadata.event_id, envelopes[3].metadata.event_id
    client = FakeEventsClient({throttled: ["ThrottlingException"], refused: ["AccessDeniedException"]})
    sleep = SleepRecorder()

    # When they are published
    with pytest.raises(PublishError) as excinfo:
        publisher(client, sleep).publish(envelopes)

    # Then the throttled one is retried and delivered, and only the refused one is reported
    assert client.request_sizes == [4, 1]
    assert [f["event_id"] for f in excinfo.value.details["failed"]] == [refused]
    assert set(client.delivered) == set(ids(envelopes)) - {refused}


def test_exhausted_retries_raise_publish_error() -> None:
    # Given an event that is throttled on every attempt
    envelopes = events(2)
    stuck = envelopes[0].metadata.event_id
    client = FakeEventsClient({stuck: ["ThrottlingException"] * 10})
    sleep = SleepRecorder()

    # When it is published with three attempts
    with pytest.raises(PublishError) as excinfo:
        publisher(client, sleep, max_attempts=3, backoff=0.5).publish(envelopes)

    # Then it was tried three times with exponential backoff, then reported with its last error code
    assert client.request_sizes == [2, 1, 1]
    assert sleep.delays == [0.5, 1.0]
    failed = excinfo.value.details["failed"]
    assert [(f["event_id"], f["code"]) for f in failed] == [(stuck, "ThrottlingException")]
    assert client.delivered == [envelopes[1].metadata.event_id]


def test_a_failure_in_one_request_does_not_stop_the_next_requests() -> None:
    # Given 15 events (two requests), one refused in the first request
    envelopes = events(15)
    refused = envelopes[2].metadata.event_id
    client, sleep = FakeEventsClient({refused: ["InvalidArgument"]}), SleepRecorder()

    # When they are published
    with pytest.raises(PublishError, match="1 of 15"):
        publisher(client, sleep).publish(envelopes)

    # Then the second request was still sent and everything else delivered
    assert client.request_sizes == [10, 5]
    assert client.delivered == [i for i in ids(envelopes) if i != refused]


class UnreachableEventsClient(FakeEventsClient):
    """Every request fails as a whole, as botocore raises it once its own retries are spent."""

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(list(Entries))
        raise ClientError({"Error": {"Code": "InternalException", "Message": "down"}}, "PutEvents")


def test_a_request_that_fails_as_a_whole_is_a_publish_error_for_every_entry() -> None:
    # Given 15 events (two requests), and a bus that answers every request with an error
    envelopes = events(15)
    client, sleep = UnreachableEventsClient(), SleepRecorder()

    # When they are published
    with pytest.raises(PublishError, match="15 of 15") as excinfo:
        publisher(client, sleep).publish(envelopes)

    # Then it is the project's error raised from the SDK's, listing every event with the error code
    assert isinstance(excinfo.value.__cause__, ClientError)
    failed = excinfo.value.details["failed"]
    assert [(f["event_id"], f["code"]) for f in failed] == [(i, "InternalException") for i in ids(envelopes)]
    # and the second request was not sent to a bus that is down, nor any entry retried by hand
    assert client.request_sizes == [10]
    assert sleep.delays == []


def test_single_attempt_publisher_never_retries() -> None:
    # Given a publisher allowed one attempt, and a throttled event
    envelopes = events(1)
    client = FakeEventsClient({envelopes[0].metadata.event_id: ["ThrottlingException"]})
    sleep = SleepRecorder()

    # When it is published
    # Then it fails at once without sleeping
    with pytest.raises(PublishError):
        publisher(client, sleep, max_attempts=1).publish(envelopes)
    assert client.request_sizes == [1]
    assert sleep.delays == []


# --------------------------------------------------------------------------------------------------
# Entry contents
# --------------------------------------------------------------------------------------------------


def test_entries_carry_source_detail_type_bus_time_and_a_parseable_detail() -> None:
    # Given a core event and an extension's event
    core = new_event(message_stored("hi"), chat_id="chat-1", actor=ALICE, occurred_at=SAMPLE_TIME)
    ext = new_event(
        ExtensionEvent(extension_id="poll", name="vote", payload={"option": "yes"}),
        chat_id="chat-1",
        actor=Actor(id="poll", kind="extension"),
    ).with_sequence(4)
    client, sleep = FakeEventsClient(), SleepRecorder()

    # When they are published
    publisher(client, sleep).publish([core, ext])

    # Then each entry names its source, detail-type, bus and time, and its Detail parses back unchanged
    core_entry, ext_entry = client.requests[0]
    assert (core_entry["Source"], core_entry["DetailType"]) == ("parley.core", "MessageStored")
    assert (ext_entry["Source"], ext_entry["DetailType"]) == ("parley.ext.poll", "ExtensionEvent")
    for entry, envelope in ((core_entry, core), (ext_entry, ext)):
        assert entry["EventBusName"] == BUS
        assert entry["Time"] == envelope.metadata.occurred_at
        parsed = parse_detail(json.loads(entry["Detail"]))
        assert parsed.metadata == envelope.metadata
        assert parsed.data == envelope.data
    assert parse_detail(json.loads(ext_entry["Detail"])).metadata.sequence == 4


def test_entry_size_counts_the_fields_eventbridge_counts() -> None:
    # Given an entry
    entry = to_entry(events(1)[0], BUS)

    # When its size is computed
    size = entry_size(entry)

    # Then it is the UTF-8 length of source, detail-type and detail plus 14 bytes for the time
    expected = 14 + sum(len(entry[f].encode()) for f in ("Source", "DetailType", "Detail"))
    assert size == expected
    assert entry_size({**entry, "Resources": ["arn:aws:x"]}) == expected + len("arn:aws:x")
