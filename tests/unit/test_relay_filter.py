"""The relay publishes only what some rule on the bus wants (``parley.patterns``,
``parley.services.outbox.WantedByRules``): the same answers as EventBridge's own matching (moto's,
as the oracle) on every deployed route's pattern, and never a drop for what it cannot judge."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.events.models import EventPattern

from parley.catalog import (
    SYSTEM,
    ChatCompleted,
    ChatSettingsChanged,
    Envelope,
    EventData,
    MessageStored,
    MessageView,
    ParticipantView,
    UserJoined,
    new_event,
)
from parley.errors import BusRulesError
from parley.extensions.manifest import Manifest
from parley.patterns import matches
from parley.routing import extension_route
from parley.services.outbox import Outbox, WantedByRules
from parley.topology import queue_routes

CHAT = "9d1f4b2a-6c3e-4e8f-a1b2-3c4d5e6f7a8b"
AT = datetime(2026, 12, 1, 12, tzinfo=UTC)


def envelope(data: EventData, extensions: Sequence[str] = ("analytics",), sequence: int = 7) -> Envelope[Any]:
    return new_event(data, chat_id=CHAT, actor=SYSTEM, occurred_at=AT, extensions=extensions).with_sequence(
        sequence
    )


def post(turn_mode: str = "free", extensions: Sequence[str] = ("analytics",)) -> Envelope[Any]:
    message = MessageView(
        message_id="m1",
        chat_id=CHAT,
        sequence=1,
        sender_id="alice",
        sender_name="Alice",
        sender_kind="human",
        text="hi",
        created_at=AT,
    )
    return envelope(MessageStored(message=message, turn_mode=turn_mode, turn_number=0), extensions)


def settings_changed(extensions: Sequence[str] = ("analytics",)) -> Envelope[Any]:
    return envelope(
        ChatSettingsChanged(changed_by="alice", changes={}, turn_mode="free", settings={}), extensions
    )


def joined(extensions: Sequence[str]) -> Envelope[Any]:
    who = ParticipantView(id="bob", name="Bob", kind="human", role="member")
    return envelope(UserJoined(participant=who, turn_mode="free"), extensions)


GREETER = Manifest(
    id="greeter",
    version="1.0.0",
    name="Greeter",
    description="Says hello when settings change.",
    events=("ChatSettingsChanged", "UserJoined"),
)
PATTERNS = [r.pattern for r in queue_routes()] + [extension_route(GREETER.document()).pattern]
EVENTS = [
    post(),
    post("round_robin"),
    post(extensions=()),
    settings_changed(),
    settings_changed(("greeter",)),
    joined(("welcome", "analytics")),
    joined(()),
    envelope(ChatCompleted(completed_by="alice"), ("webhook",)),
]


def as_bus_event(e: Envelope[Any]) -> dict[str, Any]:
    return {"source": e.source, "detail-type": e.event_type, "detail": e.to_detail()}


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: json.dumps(p)[:60])
def test_every_deployed_pattern_matches_as_eventbridge_does(pattern: dict[str, Any]) -> None:
    oracle = EventPattern.load(json.dumps(pattern))
    for e in EVENTS:
        event = as_bus_event(e)
        expected = oracle.matches_event(event)  # type: ignore[arg-type]
        assert matches(pattern, event) == expected, (pattern, e.event_type)


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"source": [{"prefix": "parley."}]}, {"source": "parley.ext.x"}, True),
        ({"source": [{"prefix": "parley."}]}, {"source": "other"}, False),
        ({"detail": {"a": [{"exists": False}]}}, {"detail": {}}, True),
        ({"detail": {"a": [{"exists": True}]}}, {"detail": {}}, False),
        ({"detail": {"a": [{"anything-but": ["x"]}]}}, {"detail": {"a": "y"}}, True),
        ({"detail": {"a": [{"anything-but": ["x"]}]}}, {"detail": {"a": "x"}}, False),
        ({"detail": {"a": [{"suffix": ".png"}]}}, {"detail": {"a": "b.png"}}, True),
        ({"detail": {"a": [{"equals-ignore-case": "X"}]}}, {"detail": {"a": "x"}}, True),
        ({"detail": {"a": [1, 2]}}, {"detail": {"a": [3, 2]}}, True),
        ({"detail": {"a": ["x"]}}, {"detail": {"b": "x"}}, False),
        ({"detail": {"a": {"b": ["x"]}}}, {"detail": {"a": "x"}}, False),
        ({"$or": [{"source": ["a"]}, {"detail-type": ["T"]}]}, {"source": "b", "detail-type": "T"}, True),
        ({"$or": [{"source": ["a"]}, {"detail-type": ["T"]}]}, {"source": "b", "detail-type": "U"}, False),
    ],
)
def test_the_matchers_it_models(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, event) is expected
    assert EventPattern.load(json.dumps(pattern)).matches_event(event) is expected  # type: ignore[arg-type]


def test_a_nested_pattern_matches_any_object_of_an_array() -> None:
    # EventBridge (its event-ruler) flattens arrays of objects, as S3's `Records` patterns rely on;
    # moto's matcher does not, so this one is ours alone. Erring on yes costs an event, never loses one.
    pattern = {"detail": {"steps": {"outcome": ["failed"]}}}
    assert matches(pattern, {"detail": {"steps": [{"outcome": "ok"}, {"outcome": "failed"}]}})
    assert not matches(pattern, {"detail": {"steps": [{"outcome": "ok"}, "failed"]}})
    assert not matches(pattern, {"detail": {"steps": []}})


@pytest.mark.parametrize(
    "pattern",
    [
        {"detail": {"n": [{"numeric": [">", 100]}]}},
        {"detail": {"a": [{"wildcard": "x*"}]}},
        {"account": ["111122223333"], "source": ["parley.core"]},
        {"replay-name": [{"exists": True}], "source": ["parley.core"]},
    ],
)
def test_what_it_does_not_model_counts_as_a_match(pattern: dict[str, Any]) -> None:
    assert matches(pattern, {"source": "parley.core", "detail": {"n": 1, "a": "y"}})


class Rules:
    def __init__(self, patterns: list[dict[str, Any]]) -> None:
        self.patterns = list(patterns)
        self.reads = 0
        self.fail = False

    def __call__(self) -> list[Mapping[str, Any]]:
        self.reads += 1
        if self.fail:
            raise BusRulesError("ListRules refused")
        return list(self.patterns)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_event_no_rule_wants_is_not_published_and_one_a_rule_wants_is() -> None:
    rules, clock = Rules(PATTERNS), Clock()
    wanted = WantedByRules(rules, clock=clock)

    # a free chat's post with only the default extensions: the relay keeps the inbox itself and
    # analytics folds the log, so no rule wants it; a turn-taking chat's post the turns route does
    assert not wanted(post())
    assert wanted(post("round_robin"))
    assert not wanted(settings_changed())  # no queue route or enabled extension subscribes
    assert wanted(settings_changed(("greeter",)))  # a third-party extension enabled on the chat does
    assert wanted(joined(("analytics",)))
    assert not wanted(joined(()))  # a free chat's join, with nothing enabled that wants it
    assert rules.reads == 1  # cached


def test_an_extension_no_rule_names_yet_reads_the_rules_again_and_is_published_meanwhile() -> None:
    rules, clock = Rules(PATTERNS), Clock()
    wanted = WantedByRules(rules, clock=clock)
    assert not wanted(settings_changed())

    # an extension deployed after the rules were read, already enabled on a chat
    assert wanted(settings_changed(("standup",)))
    assert rules.reads == 1  # read a moment ago: not again yet
    clock.now += 10
    standup = Manifest(id="standup", version="1.0.0", name="S", description="d", events=("ChatCompleted",))
    rules.patterns.append(extension_route(standup.document()).pattern)
    assert not wanted(settings_changed(("standup",)))  # now its rule is known, and it does not want it
    assert rules.reads == 2
    assert wanted(envelope(ChatCompleted(completed_by="alice"), ("standup",)))


def test_rules_are_read_again_after_their_ttl_and_unreadable_rules_publish_everything() -> None:
    rules, clock = Rules(PATTERNS), Clock()
    wanted = WantedByRules(rules, ttl_seconds=60, clock=clock)
    assert not wanted(settings_changed())
    rules.patterns.append({"source": [{"prefix": "parley."}]})  # a catch-all rule (a test sink)
    clock.now += 30
    assert not wanted(settings_changed())
    clock.now += 31
    assert wanted(settings_changed())
    rules.fail = True
    clock.now += 61
    assert wanted(settings_changed())


class Publisher:
    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, envelopes: Sequence[Envelope[Any]]) -> None:
        self.published += [e.event_type for e in envelopes]


def test_the_relay_publishes_only_the_wanted_events_of_a_batch() -> None:
    publisher = Publisher()
    outbox = Outbox(None, publisher, wanted=WantedByRules(Rules(PATTERNS)))  # type: ignore[arg-type]

    assert outbox.relay([settings_changed(), post(), post("round_robin"), joined(())]) == set()
    assert publisher.published == ["MessageStored"]  # the turn-taking chat's post alone
