"""The routing table: plain data that CDK and the local stack both turn into rules and queues."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from parley import routing
from parley.catalog import CATALOG, CLIENT_VISIBLE, CORE_SOURCE, TurnMode
from parley.extensions.manifest import Manifest
from parley.routing import PUSHED_BY_PRODUCER, ROUTES, STRICT_TURN_MODES, RetryPolicy, Route, extension_route
from parley.topology import all_routes, builtin_routes, consumers_of, route

REPO_ROOT = Path(__file__).resolve().parents[2]
ROUTE_NAMES = [r.name for r in all_routes()]


def test_the_routing_table_is_not_empty_and_names_are_unique() -> None:
    # Given the routing table
    # When its route names are collected
    # Then there is at least one route and no name is used twice
    assert ROUTES
    assert len(set(ROUTE_NAMES)) == len(ROUTE_NAMES)


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_every_routed_event_type_is_catalogued(name: str) -> None:
    # Given a route
    subscribed = route(name).event_types

    # When its event types are looked up in the catalog
    unknown = [t for t in subscribed if t not in CATALOG]

    # Then each exists (a typo would make a rule that never matches), and none is listed twice
    assert subscribed
    assert unknown == []
    assert len(set(subscribed)) == len(subscribed)


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_every_route_never_subscribes_to_events_that_never_reach_the_bus(name: str) -> None:
    # Given a route
    subscribed = route(name).event_types

    # When the subscribed types are checked against the catalog's on_bus flag
    off_bus = [t for t in subscribed if not CATALOG[t].on_bus]

    # Then no route waits for an event that is never put on the bus (AI chunks go straight to sockets)
    assert off_bus == []


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_every_route_has_its_function_handler(name: str) -> None:
    # Given a route
    function = route(name).function

    # When its function folder is looked up
    handler = REPO_ROOT / "functions" / function / "handler.py"

    # Then the handler module CDK packages for the route exists
    assert handler.is_file(), handler


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_every_route_pattern_matches_its_source_types_and_filter(name: str) -> None:
    # Given a route
    r = route(name)

    # When its EventBridge pattern is built
    pattern = r.pattern

    # Then it lists the sources, the detail-types and (when set) the detail filter
    assert pattern["source"] == [*r.sources, *({"prefix": p} for p in r.source_prefixes)]
    assert pattern["detail-type"] == list(r.event_types)
    if r.detail_filter:
        assert pattern["detail"] == dict(r.detail_filter)
    else:
        assert "detail" not in pattern
    assert set(pattern) <= {"source", "detail-type", "detail"}


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_every_data_filter_uses_fields_that_the_routed_events_carry(name: str) -> None:
    # Given a route whose detail filter tests fields of `data`
    r = route(name)
    data_filter = r.detail_filter.get("data", {})

    # When the routed events' data models are inspected
    missing = {t: sorted(set(data_filter) - set(CATALOG[t].model_fields)) for t in r.event_types}

    # Then every routed event carries every filtered field (otherwise the rule would never match it)
    assert all(not fields for fields in missing.values()), missing


def test_pattern_without_a_filter_has_no_detail_key() -> None:
    # Given a route with no detail filter
    plain = Route(name="audit", function="audit", event_types=("ChatCreated",), description="test only")

    # When its pattern is built
    pattern = plain.pattern

    # Then it matches on source and detail-type only, from the core source by default
    assert pattern == {"source": [CORE_SOURCE], "detail-type": ["ChatCreated"]}


def test_route_resource_names_are_unique_across_routes() -> None:
    # Given every route
    rules = [r.rule_name for r in all_routes()]
    queues = [r.queue_name for r in all_routes()]
    dlqs = [r.dlq_name for r in all_routes()]

    # When the names of their rules, queues and dead-letter queues are compared
    # Then no two routes share a rule, a queue or a DLQ, and no DLQ is named like a queue
    assert len(set(rules)) == len(rules)
    assert len(set(queues)) == len(queues)
    assert len(set(dlqs)) == len(dlqs)
    assert not set(queues) & set(dlqs)
    for r in all_routes():
        assert r.rule_name == f"parley-{r.name}"
        assert r.dlq_name == f"parley-{r.name}-dlq"


def test_resource_names_fit_aws_limits() -> None:
    # Given every route
    # When its resource names are measured
    # Then they fit SQS queue names (80 characters) and EventBridge rule names (64 characters)
    for r in all_routes():
        assert len(r.queue_name) <= 80
        assert len(r.dlq_name) <= 80
        assert len(r.rule_name) <= 64


def test_turns_route_skips_free_chats() -> None:
    # Given the turns route
    turns = route("turns")

    # When its detail filter on the turn mode is read
    modes = turns.pattern["detail"]["data"]["turn_mode"]

    # Then every strict mode is routed and free chats never cost a turns invocation
    assert "free" not in modes
    assert set(modes) == set(get_args(TurnMode)) - {"free"}
    assert set(modes) == set(STRICT_TURN_MODES)


def test_turns_route_subscribes_to_posts_joins_and_leaves() -> None:
    # Given the turns route
    turns = route("turns")

    # When its subscription is read
    # Then it reacts to exactly the triggers that can move the floor, with a generous retry budget
    assert set(turns.event_types) == {"MessageStored", "UserJoined", "UserLeft"}
    assert turns.function == "turns"
    assert turns.critical is True
    assert turns.retry.max_attempts == 5


def test_route_lookup_fails_for_an_unknown_name() -> None:
    # Given a name no route has
    # When it is looked up
    # Then a KeyError names it
    with pytest.raises(KeyError, match="no route named 'nope'"):
        route("nope")


def test_the_core_table_finds_core_routes_only() -> None:
    # Given a core route and a shipped extension's route
    # When each is looked up in the core table (what a core handler reads)
    # Then the core one is found, and the extension's is only in the deployed topology
    assert routing.route("turns") is route("turns")
    assert route("ext_welcome").function == "ext_welcome"
    with pytest.raises(KeyError, match="no core route named 'ext_welcome'"):
        routing.route("ext_welcome")


@pytest.mark.parametrize("event_type", sorted(CATALOG))
def test_consumers_of_returns_exactly_the_subscribed_routes(event_type: str) -> None:
    # Given an event type
    # When its consumers are asked for
    consumers = consumers_of(event_type)

    # Then they are the routes listing it, in table order
    assert consumers == tuple(r for r in all_routes() if event_type in r.event_types)


def test_consumers_of_known_examples() -> None:
    # Given the current routing table
    # When consumers of a routed and an unrouted event are asked for
    # Then MessageStored reaches the relay (to the inbox and the bus), turns and the broadcaster (and
    # the extensions subscribed to it); typing (pushed by the realtime function, never stored), AI chunks
    # (pushed straight to sockets) and unknown types no route
    core = [r.name for r in consumers_of("MessageStored") if not r.name.startswith("ext_")]
    assert sorted(core) == ["broadcaster", "relay", "turns"]
    assert consumers_of("TypingStarted") == ()
    assert consumers_of("AIResponseChunk") == ()
    assert consumers_of("NoSuchEvent") == ()


def test_retry_policy_defaults_are_valid() -> None:
    # Given no arguments
    policy = RetryPolicy()

    # When it is built
    # Then the defaults are three attempts within an hour
    assert (policy.max_attempts, policy.max_event_age_seconds) == (3, 3600)


@pytest.mark.parametrize("max_attempts", [1, 2, 185])
def test_retry_policy_accepts_attempts_within_eventbridge_limits(max_attempts: int) -> None:
    # Given an attempt count within 1..185
    # When a policy is built
    policy = RetryPolicy(max_attempts=max_attempts)

    # Then it keeps the value
    assert policy.max_attempts == max_attempts


@pytest.mark.parametrize("max_attempts", [-1, 0, 186, 1000])
def test_retry_policy_rejects_attempts_out_of_range(max_attempts: int) -> None:
    # Given an attempt count outside 1..185
    # When a policy is built
    # Then it is refused at import time rather than at deploy time
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=max_attempts)


@pytest.mark.parametrize("age", [60, 3600, 86400])
def test_retry_policy_accepts_event_ages_within_limits(age: int) -> None:
    # Given a maximum event age within 60..86400 seconds
    # When a policy is built
    policy = RetryPolicy(max_event_age_seconds=age)

    # Then it keeps the value
    assert policy.max_event_age_seconds == age


@pytest.mark.parametrize("age", [0, 59, 86401])
def test_retry_policy_rejects_event_ages_out_of_range(age: int) -> None:
    # Given a maximum event age outside 60..86400 seconds
    # When a policy is built
    # Then it is refused
    with pytest.raises(ValueError, match="max_event_age_seconds"):
        RetryPolicy(max_event_age_seconds=age)


@pytest.mark.parametrize("name", [r.name for r in builtin_routes()])
def test_every_extension_route_matches_only_events_routed_to_it(name: str) -> None:
    # Given a shipped extension's route, whatever its target
    r = route(name)
    extension_id = name.removeprefix("ext_")

    # Then its rule matches only events whose metadata lists the extension
    assert r.pattern["detail"]["metadata"] == {"extensions": [extension_id]}


def test_the_stream_routes_take_only_what_can_be_a_row_of_the_events_table() -> None:
    # Given the routes read from the events table's stream
    streamed = {r.name: r for r in all_routes() if r.delivery == "stream"}

    # Then they are the broadcaster and the relay, and neither waits for a type never stored
    # (ephemeral), which only its producer can push or publish
    assert sorted(streamed) == ["broadcaster", "relay"]
    for r in streamed.values():
        assert not [t for t in r.event_types if CATALOG[t].ephemeral]
        # and their filter passes new rows of exactly their types (a MODIFY is a parked mark)
        assert r.stream_filter == {
            "eventName": ["INSERT"],
            "dynamodb": {"NewImage": {"event_type": {"S": list(r.event_types)}}},
        }
    # And the broadcaster takes every client-visible type that is stored, the relay every stored type
    assert set(route("broadcaster").event_types) == {
        t for t in CLIENT_VISIBLE if CATALOG[t].on_bus and t not in PUSHED_BY_PRODUCER
    }
    assert set(route("relay").event_types) == {t for t, m in CATALOG.items() if m.on_bus and not m.ephemeral}


def test_an_extension_that_asks_for_a_backfill_gets_more_attempts_to_outlast_it() -> None:
    # Given two manifests that differ only in asking for a backfill
    plain = Manifest(id="plain", version="1.0.0", name="Plain", description="d", events=("MessageStored",))
    history = plain.model_copy(update={"id": "history", "backfill": True})

    # Then the one asking for history is retried more (live events wait for its backfill)
    assert extension_route(plain.document()).retry.max_attempts == 3
    assert extension_route(history.document()).retry.max_attempts == 6
