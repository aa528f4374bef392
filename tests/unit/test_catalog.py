"""The event catalog: explicit contracts, envelope building, parsing and schemas."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from parley import catalog
from parley.catalog import (
    CATALOG,
    CORE_SOURCE,
    EXTENSION_SOURCE_PREFIX,
    SYSTEM,
    Actor,
    ActorKind,
    AIResponseCompleted,
    CatalogError,
    ChatCreated,
    Envelope,
    EventData,
    EventParseError,
    ExtensionEvent,
    MessageStored,
    TypingStopped,
    data_model,
    derive,
    envelope_schema,
    event,
    new_event,
    parse_detail,
)
from tests.unit.samples import SAMPLE_TIME, message_stored, sample_data

ALICE = Actor(id="user-alice", kind="user", name="Alice")
EVENT_TYPES = sorted(CATALOG)
CONTRACT_ATTRS = ("event_type", "version", "description", "producers")
THROWAWAY_CONTRACT: dict[str, Any] = {
    "event_type": "ThrowawayHappened",
    "version": 1,
    "description": "Only exists inside a unit test.",
    "producers": ("tests",),
}


@pytest.fixture
def isolated_catalog(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[EventData]]:
    """A copy of the catalog that ``@event`` registers into; the real one is restored afterwards."""
    copy = dict(CATALOG)
    monkeypatch.setattr(catalog, "CATALOG", copy)
    return copy


def _throwaway_class(name: str, **class_attrs: Any) -> type[EventData]:
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": {"value": str}, **class_attrs}
    return cast(type[EventData], type(name, (EventData,), namespace))


def _detail(data: EventData, **metadata_overrides: Any) -> dict[str, Any]:
    detail = new_event(data, chat_id="chat-1", actor=ALICE, occurred_at=SAMPLE_TIME).to_detail()
    detail["metadata"].update(metadata_overrides)
    return detail


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Name``) to its definition."""
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/$defs/"), ref
    return cast(dict[str, Any], schema["$defs"][ref.removeprefix("#/$defs/")])


# --------------------------------------------------------------------------------------------------
# The catalogued contracts
# --------------------------------------------------------------------------------------------------


def test_catalog_defines_at_least_25_event_types() -> None:
    # Given the catalog as imported by every handler
    # When its event types are counted
    count = len(CATALOG)

    # Then the full set of documented domain events is present
    assert count >= 25, sorted(CATALOG)


def test_readme_states_the_catalogs_size() -> None:
    # Given README's summary of the catalog, When it is read, Then it counts what the catalog holds
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"catalog.py`): {len(CATALOG)} event types" in readme


def test_samples_cover_exactly_the_catalogued_event_types() -> None:
    # Given one hand-written sample per event type
    # When its keys are compared with the catalog
    samples = sample_data()

    # Then no event type lacks a sample (so every type below is round-tripped) and none is stale
    assert set(samples) == set(CATALOG)
    for event_type, sample in samples.items():
        assert type(sample) is CATALOG[event_type]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_class_declares_its_contract_explicitly(event_type: str) -> None:
    # Given a catalogued event class
    cls = CATALOG[event_type]

    # When its class attributes are inspected (own attributes, never inherited ones)
    own = vars(cls)

    # Then the detail-type, version, description and producers are set on the class itself
    for attr in CONTRACT_ATTRS:
        assert attr in own, f"{cls.__name__} inherits {attr}"
    assert cls.event_type == event_type
    assert isinstance(cls.version, int)
    assert cls.version >= 1
    assert isinstance(cls.description, str)
    assert cls.description.strip()
    assert isinstance(cls.producers, tuple)
    assert cls.producers
    assert all(isinstance(p, str) and p for p in cls.producers)
    # And the event type is a contract of its own, not a field of the data
    assert "event_type" not in cls.model_fields


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_class_is_frozen(event_type: str) -> None:
    # Given a valid instance of a catalogued event
    sample = sample_data()[event_type]
    assert type(sample).model_config.get("frozen") is True
    if not type(sample).model_fields:
        return  # a marker without data (Withheld) has no field to reassign
    field_name = next(iter(type(sample).model_fields))

    # When a field is reassigned
    # Then pydantic refuses, because events are immutable facts
    with pytest.raises(ValidationError, match="frozen"):
        setattr(sample, field_name, getattr(sample, field_name))


def test_ephemeral_flag_is_set_only_on_socket_frames_and_what_extensions_send() -> None:
    # Given the catalog
    # When the event types flagged ephemeral are collected
    ephemeral = {name for name, cls in CATALOG.items() if cls.ephemeral}

    # Then only never-stored socket events and extensions' own requests and reports carry the flag
    assert ephemeral == {
        "AIResponseChunk",
        "TypingStarted",
        "TypingStopped",
        "PresenceChanged",
        "ExtensionEvent",
        "ExtensionMessageRequested",
        "ExtensionFailed",
        "ExtensionRecovered",
        "ReadMarkerMoved",
        "ExtensionEphemeralRequested",
        "ExtensionMessageUpdateRequested",
        "EphemeralMessage",
        "Withheld",
        "SlashCommandInvoked",  # a member's command for one extension, never in the log
        "WorkflowRunReported",
        "ExtensionFloorRequested",
        "ExtensionSettingsRequested",
        "ScheduleReached",  # an extension's tick hands it to its handler; never published
    }


# --------------------------------------------------------------------------------------------------
# @event registration
# --------------------------------------------------------------------------------------------------


def test_event_registers_a_complete_class(isolated_catalog: dict[str, type[EventData]]) -> None:
    # Given a class with every contract attribute
    cls = _throwaway_class("ThrowawayHappened", **THROWAWAY_CONTRACT)

    # When it is decorated with @event
    returned = event(cls)

    # Then it is returned unchanged and found under its event type
    assert returned is cls
    assert isolated_catalog["ThrowawayHappened"] is cls
    assert data_model("ThrowawayHappened") is cls
    # And the real catalog (restored after the test) never saw it
    assert "ThrowawayHappened" not in CATALOG


def test_event_rejects_a_duplicate_event_type(isolated_catalog: dict[str, type[EventData]]) -> None:
    # Given a complete class that reuses an existing detail-type
    duplicate = _throwaway_class("ChatCreatedAgain", **{**THROWAWAY_CONTRACT, "event_type": "ChatCreated"})

    # When it is registered
    # Then registration fails and the original class keeps the event type
    with pytest.raises(CatalogError, match="duplicate event type ChatCreated"):
        event(duplicate)
    assert isolated_catalog["ChatCreated"] is ChatCreated
    assert len(isolated_catalog) == len(CATALOG)


@pytest.mark.parametrize("missing", CONTRACT_ATTRS)
def test_event_rejects_a_class_missing_a_contract_attribute(
    missing: str, isolated_catalog: dict[str, type[EventData]]
) -> None:
    # Given a class that leaves out one contract attribute
    attrs = {k: v for k, v in THROWAWAY_CONTRACT.items() if k != missing}
    incomplete = _throwaway_class("IncompleteHappened", **attrs)

    # When it is registered
    # Then registration fails naming the attribute, and nothing is added
    with pytest.raises(CatalogError, match=f"must define {missing}"):
        event(incomplete)
    assert len(isolated_catalog) == len(CATALOG)


def test_event_rejects_a_subclass_that_only_inherits_its_contract(
    isolated_catalog: dict[str, type[EventData]],
) -> None:
    # Given a subclass of a catalogued event that declares nothing of its own
    class TypingStoppedAgain(TypingStopped):
        extra: str = ""

    # When it is registered
    # Then the inherited event_type does not count: every contract must be explicit
    with pytest.raises(CatalogError, match="must define event_type"):
        event(TypingStoppedAgain)
    assert isolated_catalog["TypingStopped"] is TypingStopped


# --------------------------------------------------------------------------------------------------
# Building envelopes
# --------------------------------------------------------------------------------------------------


def test_new_event_starts_a_flow_whose_correlation_id_is_its_own_event_id() -> None:
    # Given event data and no correlation id
    data = message_stored()

    # When a new event is built
    before = datetime.now(UTC)
    envelope = new_event(data, chat_id="chat-1", actor=ALICE)

    # Then it starts its own flow, carries the data's contract, and is timestamped now in UTC
    meta = envelope.metadata
    assert uuid.UUID(meta.event_id)
    assert meta.correlation_id == meta.event_id
    assert meta.causation_id is None
    assert meta.event_type == "MessageStored"
    assert meta.version == MessageStored.version
    assert meta.chat_id == "chat-1"
    assert meta.sequence is None
    assert meta.actor == ALICE
    assert meta.occurred_at.tzinfo is not None
    assert before <= meta.occurred_at <= datetime.now(UTC)
    assert envelope.data is data


def test_new_event_keeps_a_given_correlation_id_and_gives_each_event_a_new_id() -> None:
    # Given a correlation id that came with a request
    data = message_stored()

    # When two events are built for it
    first = new_event(data, chat_id="chat-1", actor=ALICE, correlation_id="req-42", occurred_at=SAMPLE_TIME)
    second = new_event(data, chat_id="chat-1", actor=ALICE, correlation_id="req-42")

    # Then both share the correlation id but have distinct event ids
    assert first.metadata.correlation_id == second.metadata.correlation_id == "req-42"
    assert first.metadata.event_id != second.metadata.event_id
    assert first.metadata.occurred_at == SAMPLE_TIME


def test_derive_continues_the_flow_of_its_cause() -> None:
    # Given a cause that itself continues a flow
    cause = new_event(message_stored(), chat_id="chat-1", actor=ALICE, correlation_id="flow-1")
    data = sample_data()["TurnChanged"]

    # When an event is derived from it
    derived = derive(cause, data)

    # Then it keeps the correlation id, points at its cause, and defaults chat and actor
    meta = derived.metadata
    assert meta.correlation_id == "flow-1"
    assert meta.causation_id == cause.metadata.event_id
    assert meta.event_id != cause.metadata.event_id
    assert meta.chat_id == "chat-1"
    assert meta.actor == SYSTEM
    assert meta.event_type == "TurnChanged"


def test_derive_accepts_an_explicit_chat_and_actor() -> None:
    # Given a cause in one chat
    cause = new_event(message_stored(), chat_id="chat-1", actor=ALICE)

    # When an event is derived for another chat by another actor
    bot = Actor(id="ai-bot", kind="ai")
    derived = derive(cause, sample_data()["AIResponseStarted"], actor=bot, chat_id="chat-2")

    # Then those override the defaults, while the flow links stay
    assert derived.metadata.chat_id == "chat-2"
    assert derived.metadata.actor == bot
    assert derived.metadata.correlation_id == cause.metadata.event_id
    assert derived.metadata.causation_id == cause.metadata.event_id


@pytest.mark.parametrize(
    ("kind", "actor_id", "expected"),
    [
        ("user", "user-alice", CORE_SOURCE),
        ("system", "parley", CORE_SOURCE),
        ("ai", "ai-bot", CORE_SOURCE),
        ("extension", "poll", f"{EXTENSION_SOURCE_PREFIX}poll"),
        ("extension", "translate-v2", "parley.ext.translate-v2"),
    ],
)
def test_envelope_source_depends_on_the_actor_kind(kind: ActorKind, actor_id: str, expected: str) -> None:
    # Given an event caused by an actor of some kind
    envelope = new_event(message_stored(), chat_id="chat-1", actor=Actor(id=actor_id, kind=kind))

    # When its EventBridge source is read
    # Then core actors publish as parley.core and each extension under its own id
    assert envelope.source == expected


def test_with_sequence_returns_a_sequenced_copy() -> None:
    # Given an unsequenced envelope
    envelope = new_event(message_stored(), chat_id="chat-1", actor=ALICE)

    # When it is given a sequence
    sequenced = envelope.with_sequence(7)

    # Then only the copy has the sequence; everything else is the same
    assert sequenced.metadata.sequence == 7
    assert envelope.metadata.sequence is None
    assert sequenced.metadata.model_copy(update={"sequence": None}) == envelope.metadata
    assert sequenced.data == envelope.data


# --------------------------------------------------------------------------------------------------
# to_detail / parse_detail
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_round_trips_through_an_eventbridge_detail(event_type: str) -> None:
    # Given a sequenced envelope of this event type
    data = sample_data()[event_type]
    envelope = derive(
        new_event(message_stored(), chat_id="chat-1", actor=ALICE),
        data,
        actor=ALICE,
        occurred_at=SAMPLE_TIME,
    ).with_sequence(12)

    # When it travels as a JSON detail and is parsed back
    wire = json.loads(json.dumps(envelope.to_detail(), allow_nan=False))
    parsed = parse_detail(wire)

    # Then the parsed envelope is the same event, its data the catalogued class
    assert type(parsed.data) is CATALOG[event_type]
    assert parsed.data == data
    assert parsed.metadata == envelope.metadata
    assert parsed.to_detail() == envelope.to_detail()
    assert parsed.source == envelope.source


def test_to_detail_serialises_the_data_subclass_fields() -> None:
    # Given an envelope typed with the EventData base (as parse_detail returns it)
    parsed = parse_detail(_detail(message_stored("hi")))

    # When it is serialised again
    detail = parsed.to_detail()

    # Then the subclass's fields are all there, not just the (empty) base's
    assert detail["data"]["message"]["text"] == "hi"
    assert detail["data"]["turn_number"] == 3
    assert detail["metadata"]["occurred_at"] == "2024-05-01T12:30:15.123456Z"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1, max_size=200), payload=st.dictionaries(st.text(max_size=10), json_values))
def test_arbitrary_text_and_payloads_round_trip(text: str, payload: dict[str, Any]) -> None:
    # Given events carrying arbitrary unicode text and arbitrary JSON payloads
    envelopes: list[Envelope[Any]] = [
        new_event(message_stored(text), chat_id="chat-1", actor=ALICE),
        new_event(
            ExtensionEvent(extension_id="poll", name=text, payload=payload),
            chat_id="chat-1",
            actor=Actor(id="poll", kind="extension"),
        ),
    ]
    for envelope in envelopes:
        # When each travels as JSON and is parsed back
        parsed = parse_detail(json.loads(json.dumps(envelope.to_detail())))

        # Then nothing is lost or altered
        assert parsed.data == envelope.data
        assert parsed.metadata == envelope.metadata


def test_parse_detail_rejects_an_unknown_event_type() -> None:
    # Given a well-formed detail whose type the catalog does not define
    detail = _detail(message_stored(), event_type="MessageTeleported")

    # When it is parsed
    # Then the catalog refuses it as unknown (not as a malformed event)
    with pytest.raises(CatalogError, match="unknown event type 'MessageTeleported'") as excinfo:
        parse_detail(detail)
    assert not isinstance(excinfo.value, EventParseError)


def test_parse_detail_rejects_a_version_newer_than_the_code() -> None:
    # Given a detail produced by a newer schema version
    detail = _detail(message_stored(), version=MessageStored.version + 1)

    # When it is parsed
    # Then this code refuses to guess at its data
    with pytest.raises(EventParseError, match="newer than this code"):
        parse_detail(detail)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.pop("metadata"), id="metadata-missing"),
        pytest.param(lambda d: d.update(metadata="not-an-object"), id="metadata-not-an-object"),
        pytest.param(lambda d: d["metadata"].pop("event_id"), id="event-id-missing"),
        pytest.param(lambda d: d["metadata"].pop("correlation_id"), id="correlation-id-missing"),
        pytest.param(lambda d: d["metadata"].update(version=0), id="version-zero"),
        pytest.param(lambda d: d["metadata"].update(sequence=0), id="sequence-zero"),
        pytest.param(lambda d: d["metadata"].update(occurred_at="yesterday"), id="bad-timestamp"),
        pytest.param(lambda d: d["metadata"]["actor"].update(kind="robot"), id="bad-actor-kind"),
    ],
)
def test_parse_detail_rejects_bad_metadata(mutate: Any) -> None:
    # Given a valid detail with one metadata defect
    detail = _detail(message_stored())
    mutate(detail)

    # When it is parsed
    # Then it is refused as a parse error about the metadata
    with pytest.raises(EventParseError, match="bad event metadata"):
        parse_detail(detail)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.pop("data"), id="data-missing"),
        pytest.param(lambda d: d["data"].pop("turn_mode"), id="field-missing"),
        pytest.param(lambda d: d["data"].update(turn_mode="chaos"), id="bad-literal"),
        pytest.param(lambda d: d["data"].update(turn_number=-1), id="constraint-violated"),
        pytest.param(lambda d: d["data"]["message"].update(sequence="first"), id="nested-wrong-type"),
    ],
)
def test_parse_detail_rejects_bad_data(mutate: Any) -> None:
    # Given a valid MessageStored detail with one data defect
    detail = _detail(message_stored())
    mutate(detail)

    # When it is parsed
    # Then it is refused as a parse error naming the event type
    with pytest.raises(EventParseError, match="bad data for MessageStored"):
        parse_detail(detail)


def test_an_event_that_validates_always_serialises_to_strict_json() -> None:
    # Given AI timings where a clock glitch produced an infinite duration
    try:
        data = AIResponseCompleted(
            request_id="req-1",
            participant_id="ai-bot",
            message_id="msg-2",
            message_sequence=1,
            time_to_first_token_ms=math.inf,
            duration_ms=math.inf,
            input_tokens=1,
            output_tokens=1,
        )
    except ValidationError:
        return  # refusing the value at construction is an acceptable contract

    # When an event built from it is turned into an EventBridge Detail
    detail = new_event(data, chat_id="chat-1", actor=SYSTEM).to_detail()

    # Then it is strict JSON (EventBridge refuses NaN/Infinity) and parses back
    parse_detail(json.loads(json.dumps(detail, allow_nan=False)))


# --------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_envelope_schema_describes_metadata_and_the_event_data(event_type: str) -> None:
    # Given a catalogued event type
    model = CATALOG[event_type]

    # When its envelope schema is generated
    schema = envelope_schema(event_type)

    # Then it is a JSON-serialisable object schema titled with the event type
    assert json.loads(json.dumps(schema)) == schema
    assert schema["title"] == event_type
    assert schema["type"] == "object"
    assert schema["description"] == model.description
    assert schema["x-parley-version"] == model.version
    assert schema["x-parley-ephemeral"] is model.ephemeral
    assert set(schema["required"]) == {"metadata", "data"}
    # And metadata and data resolve to object schemas with the right fields
    metadata = _resolve(schema, schema["properties"]["metadata"])
    assert {"event_id", "event_type", "version", "chat_id", "correlation_id", "actor"} <= set(
        metadata["required"]
    )
    data = _resolve(schema, schema["properties"]["data"])
    assert data["type"] == "object"
    assert set(data.get("properties", {})) == set(model.model_fields)
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    assert set(data.get("required", [])) == required


def test_envelope_schema_carries_field_constraints() -> None:
    # Given an event with constrained and enumerated fields
    schema = envelope_schema("TurnChanged")

    # When its data schema is read
    data = _resolve(schema, schema["properties"]["data"])

    # Then the constraints consumers rely on are published
    assert data["properties"]["turn_number"]["minimum"] == 0
    assert "mode_changed" in data["properties"]["reason"]["enum"]
    assert set(data["properties"]["turn_mode"]["enum"]) == {"free", "round_robin", "alternating", "moderated"}


def test_envelope_schema_rejects_an_unknown_event_type() -> None:
    # Given an event type the catalog does not define
    # When its schema is requested
    # Then the catalog refuses
    with pytest.raises(CatalogError, match="unknown event type"):
        envelope_schema("NoSuchEvent")


def test_metadata_timestamps_survive_time_zones() -> None:
    # Given an event that occurred at a non-UTC offset
    occurred = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    local = occurred.astimezone(timezone(timedelta(hours=2)))
    envelope = new_event(message_stored(), chat_id="chat-1", actor=ALICE, occurred_at=local)

    # When it round-trips
    parsed = parse_detail(json.loads(json.dumps(envelope.to_detail())))

    # Then it denotes the same instant
    assert parsed.metadata.occurred_at == occurred
