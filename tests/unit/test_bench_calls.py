"""Critical path versus the rest (bench/calls.py), on hand-written request sequences."""

from __future__ import annotations

from bench.calls import DELIVERY, Call, classify, excess_over, excess_over_count, summarize

API, BROADCASTER = "api", "broadcaster"


def call(function: str, invocation: int, name: str, **extra: object) -> Call:
    service, operation = name.split(".")
    return Call(function, invocation, service, operation, **extra)  # type: ignore[arg-type]


def a_post(pushes: int = 2, first: int = 1) -> list[Call]:
    """One post: the api reads, commits, publishes, clears the outbox flag; the broadcaster fans out;
    turns (a strict chat) reads the chat and publishes TurnChanged, which the broadcaster pushes too."""
    api, broadcast, turns, broadcast_turn = first, first + 1, first + 2, first + 3
    e1, e2 = f"e{first}", f"e{first + 1}"
    return [
        call(API, api, "dynamodb.GetItem", rru=0.5),
        call(API, api, "dynamodb.TransactWriteItems", wru=6.0),
        call(API, api, "events.PutEvents", published=(e1,), entries=1),
        call(API, api, "dynamodb.UpdateItem", wru=1.0),
        call(DELIVERY, 0, "sqs.SendMessage"),
        call(BROADCASTER, broadcast, "dynamodb.Query", trigger=e1, rru=0.5),
        *(
            call(BROADCASTER, broadcast, "apigatewaymanagementapi.PostToConnection", trigger=e1)
            for _ in range(pushes)
        ),
        call("turns", turns, "dynamodb.GetItem", trigger=e1),
        call("turns", turns, "events.PutEvents", trigger=e1, published=(e2,), entries=1),
        call(BROADCASTER, broadcast_turn, "dynamodb.Query", trigger=e2),
        call(BROADCASTER, broadcast_turn, "apigatewaymanagementapi.PostToConnection", trigger=e2),
    ]


def test_the_critical_path_ends_at_the_api_publish_and_follows_its_events_to_the_pushes() -> None:
    calls = a_post()
    categories = classify(calls)
    critical = [c.name for c, k in zip(calls, categories, strict=True) if k == "critical"]
    assert critical == [
        "dynamodb.GetItem",
        "dynamodb.TransactWriteItems",
        "events.PutEvents",
        "dynamodb.Query",
        "apigatewaymanagementapi.PostToConnection",
        "apigatewaymanagementapi.PostToConnection",
    ]
    # the outbox bookkeeping after the publish, turns and what turns caused are the rest
    assert categories[3] == "rest"
    assert categories[-4:] == ["rest", "rest", "rest", "rest"]
    assert categories[4] == "delivery"


def test_an_api_request_that_publishes_nothing_is_all_critical() -> None:
    calls = [call(API, 1, "dynamodb.GetItem"), call(API, 1, "dynamodb.Query")]
    assert classify(calls) == ["critical", "critical"]


def test_each_api_invocation_has_its_own_publish() -> None:
    calls = [
        call(API, 1, "events.PutEvents", published=("a",)),
        call(API, 1, "dynamodb.UpdateItem"),
        call(API, 2, "dynamodb.TransactWriteItems"),
        call(API, 2, "events.PutEvents", published=("b",)),
    ]
    assert classify(calls) == ["critical", "rest", "critical", "critical"]


def test_summaries_are_per_repetition_and_per_category() -> None:
    calls = a_post() + a_post(first=10)
    summary = summarize(calls, classify(calls), repetitions=2)
    assert summary.critical_path == 6
    assert summary.total == 12
    assert summary.by_category["delivery"] == {"sqs.SendMessage": 1.0}
    assert summary.by_function["turns"] == {"dynamodb.GetItem": 1.0, "events.PutEvents": 1.0}
    assert summary.calls_of("apigatewaymanagementapi.PostToConnection") == 3
    assert (summary.rru, summary.wru, summary.events) == (1.0, 7.0, 2.0)


def test_excess_names_what_the_critical_path_has_beyond_its_allowance() -> None:
    critical = {"dynamodb.GetItem": 2.0, "dynamodb.Query": 1.0, "events.PutEvents": 1.0}
    allowed = {"dynamodb.Query": 1.0, "events.PutEvents": 1.0, "dynamodb.TransactWriteItems": 1.0}
    assert excess_over(critical, allowed) == {"dynamodb.GetItem": 2.0}
    assert excess_over(allowed, allowed) == {}


def test_with_the_stream_as_outbox_the_commit_is_the_publish_and_the_broadcaster_follows_its_rows() -> None:
    # Given a post whose transaction commits the event row (no PutEvents by the api), the relay
    # publishing it from the stream, and the broadcaster pushing it from the stream
    e1 = "evt-1"
    calls = [
        call(API, 1, "dynamodb.GetItem"),
        call(API, 1, "dynamodb.TransactWriteItems", published=(e1,)),
        call("relay", 2, "events.PutEvents", trigger=e1, published=(e1,), entries=1),
        call(BROADCASTER, 3, "dynamodb.Query", trigger=e1),
        call(BROADCASTER, 3, "apigatewaymanagementapi.PostToConnection", trigger=e1),
        call(BROADCASTER, 3, "apigatewaymanagementapi.PostToConnection", trigger=e1),
    ]

    # When classified
    categories = classify(calls)

    # Then the critical path is N+3: the read, the commit, the subscriptions query and the pushes;
    # the relay's publish is off it
    assert categories == ["critical", "critical", "rest", "critical", "critical", "critical"]
    assert excess_over_count(5, 3 + 2) == {}
    assert excess_over_count(6, 3 + 2) == {"requests": 1}
