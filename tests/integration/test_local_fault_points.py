"""The local stack's AWS fault points against moto: botocore retries what AWS would have it retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local.fault_points import install_botocore, install_model_faults
from infra.local.faults import Faults, Rule
from infra.local.provision import Provisioned
from parley.ai.providers import LocalProvider, ModelRequest, Utterance
from parley.errors import ProviderError
from parley.settings import settings


@pytest.fixture
def faults(aws: Provisioned) -> Iterator[tuple[Faults, list[dict[str, Any]]]]:
    injected, published = Faults(7), list[dict[str, Any]]()
    uninstall = install_botocore(injected, published.extend)
    yield injected, published
    uninstall()


def _entry(event_id: str) -> dict[str, Any]:
    detail = {"metadata": {"event_id": event_id}, "data": {}}
    return {
        "Source": "parley.core",
        "DetailType": "Probe",
        "Detail": json.dumps(detail),
        "EventBusName": settings().bus_name,
    }


def test_a_throttled_write_is_retried_by_botocore_and_counted_recovered(
    faults: tuple[Faults, list[dict[str, Any]]],
) -> None:
    injected, _ = faults
    injected.arm([Rule("dynamodb.throttle", 1.0, count=2)])
    dynamodb = boto3.client("dynamodb")
    item = {"chat_id": {"S": "c1"}, "sequence": {"N": "1"}}
    dynamodb.put_item(TableName=settings().events_table, Item=item)
    assert injected.fired["dynamodb.throttle"] == 2
    assert injected.recovered["dynamodb.throttle"] == 2
    got = dynamodb.get_item(TableName=settings().events_table, Key=item)
    assert got["Item"] == item


def test_refused_entries_come_back_in_a_200_answer_and_the_rest_is_published(
    faults: tuple[Faults, list[dict[str, Any]]],
) -> None:
    injected, published = faults
    injected.arm([Rule("publish.entry", 1.0, count=1)])
    events = boto3.client("events")
    answer = events.put_events(Entries=[_entry("e1"), _entry("e2")])
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "InternalFailure"
    assert "EventId" in answer["Entries"][1]
    assert [json.loads(e["Detail"])["metadata"]["event_id"] for e in published] == ["e2"]
    unrecovered = {p["point"]: p["unrecovered_sample"] for p in injected.snapshot()["points"]}
    assert unrecovered["publish.entry"] == ["Probe/e1"]
    assert injected.recovered["publish.entry"] == 0
    events.put_events(Entries=[_entry("e1")])  # the caller's retry
    assert injected.recovered["publish.entry"] == 1


def test_a_whole_put_events_failure_is_retried_by_botocore(
    faults: tuple[Faults, list[dict[str, Any]]],
) -> None:
    injected, published = faults
    injected.arm([Rule("publish", 1.0, count=2)])
    answer = boto3.client("events").put_events(Entries=[_entry("e1")])
    assert answer["FailedEntryCount"] == 0
    assert injected.fired["publish"] == 2
    assert injected.recovered["publish"] == 2
    assert len(published) == 1


def test_the_local_model_fails_on_demand() -> None:
    injected = Faults(1)
    uninstall = install_model_faults(injected)
    try:
        request = ModelRequest(
            model="",
            system="",
            messages=(Utterance(role="user", speaker="Al", text="hi"),),
            max_output_tokens=64,
        )
        provider = LocalProvider(chunk_delay_ms=0)
        injected.arm([Rule("ai.throttle", 1.0, count=1)])
        with pytest.raises(ProviderError) as throttled:
            list(provider.stream(request))
        assert throttled.value.reason == "throttled"
        injected.arm([Rule("ai.error", 1.0, count=1)])
        streamed: list[Any] = []
        with pytest.raises(ProviderError) as failed:
            streamed.extend(provider.stream(request))
        assert failed.value.reason == "model_error"
        assert len(streamed) == 1  # mid-stream: after the first chunk
        assert len(list(provider.stream(request))) > 2  # disarmed by its count
    finally:
        uninstall()


@pytest.mark.parametrize("watching_events", [True, False])
def test_only_a_write_to_a_watched_table_wakes_the_stream_readers(
    aws: Provisioned, watching_events: bool
) -> None:
    # Given the hooks, watching the events table (the one with the stream), or another one
    table = settings().events_table
    woken: list[None] = []
    uninstall = install_botocore(
        Faults(1),
        list[dict[str, Any]]().extend,
        lambda: woken.append(None),
        frozenset({table if watching_events else "x"}),
    )
    try:
        dynamodb = boto3.client("dynamodb")

        # When the events table is written by each kind of write
        def item(n: int) -> dict[str, Any]:
            return {"chat_id": {"S": "c1"}, "sequence": {"N": str(n)}}

        dynamodb.put_item(TableName=table, Item=item(1))
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item(2)}}])
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item(3)}}]})
    finally:
        uninstall()

    # Then the readers are woken after each write only when that table is watched
    assert len(woken) == (3 if watching_events else 0)
