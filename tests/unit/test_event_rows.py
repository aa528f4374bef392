"""The event-log row holds its event packed (issue 15): every reader gets back exactly the JSON that
was written, for every catalogued event, through the stream (base64 or bytes) and through a read;
rows written before still read; a web client's post stays under one write unit."""

from __future__ import annotations

import base64
import json
import os
import random
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.dynamodb_units import WRITE_UNIT_BYTES, item_size, write_units
from bench.traffic import text_of
from parley.adapters.dynamodb import _event_record
from parley.adapters.event_rows import (
    DICTIONARY_V1,
    EventRowError,
    detail_text,
    image_row,
    pack,
)
from parley.adapters.eventbridge import MAX_REQUEST_BYTES
from parley.adapters.tables import EventRecord
from parley.catalog import CATALOG, Actor, Envelope, EventData, MessageStored, new_event
from parley.consumers.streams import envelope_of, origin_of
from parley.routing import Route
from tests.unit.samples import message_view, sample_data

CHAT = "9d1f4b2a-6c3e-4e8f-a1b2-3c4d5e6f7a8b"
ALICE = Actor(id="user-alice", kind="user", name="Alice")
EVERY_TYPE = Route(name="all", function="all", event_types=tuple(CATALOG), description="every event")
ITEM_LIMIT = 400 * 1024
"""DynamoDB's item size limit."""


def _envelope(data: EventData, sequence: int = 7) -> Envelope[Any]:
    at = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
    return new_event(
        data, chat_id=CHAT, actor=ALICE, occurred_at=at, extensions=("analytics",)
    ).with_sequence(sequence, roster_version=2)


def _image(record: EventRecord, *, lambda_json: bool) -> dict[str, Any]:
    """The row as its stream record's NewImage: binaries as base64 text in Lambda's event, as bytes
    from boto3's GetRecords."""
    image: dict[str, Any] = record.serialize()
    if lambda_json:
        image = {k: {"B": base64.b64encode(v["B"]).decode()} if "B" in v else v for k, v in image.items()}
    return image


def _legacy_image(envelope: Envelope[Any], origin: str = "conn-1") -> dict[str, Any]:
    """A row as it was written before ``body``: the JSON in ``detail``, with its id and time."""
    meta = envelope.metadata
    return {
        "chat_id": {"S": meta.chat_id},
        "sequence": {"N": str(meta.sequence)},
        "event_id": {"S": meta.event_id},
        "event_type": {"S": meta.event_type},
        "detail": {"S": envelope.to_json()},
        "occurred_at": {"S": meta.occurred_at.astimezone(UTC).isoformat()},
        "origin_connection_id": {"S": origin},
    }


@pytest.mark.parametrize("event_type", sorted(sample_data()))
@pytest.mark.parametrize("lambda_json", [True, False])
def test_every_catalogued_event_reads_back_as_written_from_the_stream_and_from_a_read(
    event_type: str, lambda_json: bool
) -> None:
    # Given a row written for the event's sample
    envelope = _envelope(sample_data()[event_type])
    record = _event_record(envelope, "conn-1")

    # Then it keeps no copy of the JSON, and its stream record is the same envelope
    assert record.detail is None
    assert record.body is not None
    stream = {"dynamodb": {"NewImage": _image(record, lambda_json=lambda_json)}}
    assert envelope_of(stream, EVERY_TYPE) == envelope
    assert origin_of(stream) == "conn-1"

    # And a read (GET events, history, replay) gets the very JSON that was written and published
    assert record.detail_json() == envelope.to_json()


@pytest.mark.parametrize("event_type", sorted(sample_data()))
def test_a_row_written_before_the_body_still_reads(event_type: str) -> None:
    # Given a row in the older format (its JSON in detail)
    envelope = _envelope(sample_data()[event_type])
    image = _legacy_image(envelope)

    # Then the stream and a read decode it to the same envelope as before
    assert envelope_of({"dynamodb": {"NewImage": image}}, EVERY_TYPE) == envelope
    record = EventRecord.from_raw_data(image)
    assert record.detail_json() == envelope.to_json()
    assert detail_text(image_row(image)) == envelope.to_json()


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=1, max_size=4000),
    name=st.text(min_size=1, max_size=40),
    sequence=st.integers(min_value=1, max_value=2**53),
)
def test_any_message_reads_back_as_written(text: str, name: str, sequence: int) -> None:
    view = message_view(text).model_copy(update={"chat_id": CHAT, "sender_name": name})
    envelope = _envelope(MessageStored(message=view, turn_mode="free", turn_number=0), sequence)
    record = _event_record(envelope)
    stream = {"dynamodb": {"NewImage": _image(record, lambda_json=True)}}
    assert envelope_of(stream, EVERY_TYPE) == envelope
    assert record.detail_json() == envelope.to_json()


def _post(text: str) -> tuple[EventRecord, dict[str, Any]]:
    """A post as the web client sends it (a client_message_id, its socket named): its row, and the
    row the same event took before (``_legacy_image``)."""
    view = message_view(text).model_copy(
        update={"chat_id": CHAT, "message_id": str(uuid.uuid4()), "client_message_id": str(uuid.uuid4())}
    )
    envelope = new_event(
        MessageStored(message=view, turn_mode="free", turn_number=0),
        chat_id=CHAT,
        actor=ALICE,
        correlation_id=str(uuid.uuid4()),
        extensions=("analytics",),
    ).with_sequence(1234, roster_version=2)
    return _event_record(envelope, "Zx3_abcdEFGhIJ="), _legacy_image(envelope, "Zx3_abcdEFGhIJ=")


def _prose(length: int) -> str:
    """Varied words (a repeated pangram would pack far better than people write)."""
    words = "we meet tomorrow at ten, Marta brings the slides and Jonas the budget draft; 42 items left?"
    pick = random.Random(length).choice
    text = ""
    while len(text) < length:
        text += pick(words.split()) + " "
    return text[:length]


def test_a_web_client_post_is_under_one_write_unit() -> None:
    # Given the bench's web client post (200 characters) and 200 characters of varied words
    for text in (text_of(1234), _prose(200)):
        record, legacy = _post(text)

        # Then the row is under 1 KB (1 WRU, 2 in the transaction), where the JSON row took 2 (4)
        assert item_size(record.serialize()) < WRITE_UNIT_BYTES, text
        assert write_units(0, item_size(legacy), transactional=True) == 4


def test_a_long_post_costs_a_unit_less_per_kilobyte_saved() -> None:
    for text in ((text_of(1) * 11)[:2000], _prose(2000)):
        # Given a 2,000-character post: about 2.9 KB as JSON (3 WRU)
        record, legacy = _post(text)
        assert write_units(0, item_size(legacy)) == 3

        # Then packed it is under 1 KB (varied words: about 850 B; text more random than people
        # write takes more)
        assert item_size(record.serialize()) < WRITE_UNIT_BYTES


def test_the_largest_event_the_bus_takes_fits_in_a_row() -> None:
    # Given an event's JSON at the bus's limit that does not compress at all
    noise = base64.b64encode(os.urandom(MAX_REQUEST_BYTES)).decode()[: MAX_REQUEST_BYTES - 200]
    detail = json.dumps({"metadata": {}, "data": {"text": noise}})
    body = pack(detail, chat_id=CHAT, event_type="MessageStored")

    # Then deflate adds only its block headers: the row stays far under DynamoDB's item limit
    assert len(body) <= len(detail.encode()) + 64
    assert len(body) < ITEM_LIMIT - 1024
    assert detail_text({"chat_id": CHAT, "event_type": "MessageStored", "body": body}) == detail


def test_the_dictionary_of_stored_rows_never_changes() -> None:
    # every row written with it needs it to be read: a change takes a new format byte, not an edit
    assert (zlib.crc32(DICTIONARY_V1), len(DICTIONARY_V1)) == (929303645, 777)


def test_a_row_it_cannot_read_is_an_error_not_a_guess() -> None:
    body = pack("{}", chat_id=CHAT, event_type="MessageStored")
    with pytest.raises(EventRowError):
        detail_text({"chat_id": CHAT, "event_type": "MessageStored", "body": b"\x02" + body[1:]})
    with pytest.raises(EventRowError):  # cut short: not the start of an event passed off as all of it
        detail_text({"chat_id": CHAT, "event_type": "MessageStored", "body": body[:-1]})
    with pytest.raises(EventRowError):
        detail_text({"chat_id": CHAT, "event_type": "MessageStored"})


def test_the_bench_follows_a_packed_row_to_its_pushes() -> None:
    # Given a transaction that commits a packed row and an older one (the bench's critical path
    # follows each committed event to the pushes its stream record causes)
    from bench.aws_requests import EVENTS_TABLE, _committed_events

    packed, older = _envelope(sample_data()["MessageStored"], 8), _envelope(sample_data()["UserJoined"], 9)
    items = [_event_record(packed).serialize(), _legacy_image(older)]
    params = {"TransactItems": [{"Put": {"TableName": EVENTS_TABLE, "Item": item}} for item in items]}

    # Then it finds both events' ids
    assert _committed_events("TransactWriteItems", params) == (
        packed.metadata.event_id,
        older.metadata.event_id,
    )
