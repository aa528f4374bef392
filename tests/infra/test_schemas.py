"""The schema registry holds one JSON Schema per catalogued event, valid draft 4, matching real events."""

from __future__ import annotations

import json

import jsonschema  # type: ignore[import-untyped]
import pytest

from infra.schemas import REGISTRY_NAME, SCHEMA_TYPE, event_schema
from parley.catalog import CATALOG, CORE_SOURCE, SYSTEM, ParticipantView, TurnChanged, UserJoined, new_event
from tests.infra.conftest import Synth


def test_one_schema_per_catalogued_event_in_the_parley_registry(synth: Synth) -> None:
    (registry,) = synth.resources("AWS::EventSchemas::Registry").values()
    assert registry["Properties"]["RegistryName"] == REGISTRY_NAME
    schemas = synth.resources("AWS::EventSchemas::Schema").values()
    assert sorted(s["Properties"]["SchemaName"] for s in schemas) == sorted(
        f"{REGISTRY_NAME}@{t}" for t in CATALOG
    )
    for schema in schemas:
        assert schema["Properties"]["Type"] == SCHEMA_TYPE
        content = json.loads(schema["Properties"]["Content"])
        assert content == event_schema(content["title"])


@pytest.mark.parametrize("event_type", sorted(CATALOG))
def test_each_schema_is_valid_draft_4(event_type: str) -> None:
    jsonschema.Draft4Validator.check_schema(event_schema(event_type))


@pytest.mark.parametrize(
    "data",
    [
        TurnChanged(turn_mode="round_robin", holder_id="u1", turn_number=1, reason="message"),
        UserJoined(
            participant=ParticipantView(id="u2", name="Bo", kind="human", role="member"), turn_mode="free"
        ),
    ],
    ids=lambda d: d.event_type,
)
def test_a_real_event_validates_against_its_registry_schema(data: TurnChanged | UserJoined) -> None:
    # Given an event as the publisher puts it on the bus
    envelope = new_event(data, chat_id="c1", actor=SYSTEM).with_sequence(3)
    event = {"detail-type": data.event_type, "source": CORE_SOURCE, "detail": envelope.to_detail()}
    # Then the registry's schema accepts it, and rejects it with another detail-type
    jsonschema.Draft4Validator(event_schema(data.event_type)).validate(event)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(event_schema(data.event_type)).validate({**event, "detail-type": "Other"})
