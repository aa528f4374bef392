"""Cost per million messages from request counts and prices (bench/cost.py), with round numbers."""

from __future__ import annotations

from typing import Any

import pytest

from bench.cost import alternative_cost, alternatives, lambda_gb_seconds, load_prices, message_cost

PRICES: dict[str, Any] = {
    "aws": {
        "lambda_request": {"usd": 0.2, "per": 1_000_000},
        "lambda_gb_second_arm64": {"usd": 0.00001, "per": 1},
        "http_api_request": {"usd": 1.0, "per": 1_000_000},
        "eventbridge_custom_event": {"usd": 1.0, "per": 1_000_000},
        "sqs_request": {"usd": 0.4, "per": 1_000_000},
        "dynamodb_write_request_unit": {"usd": 0.625, "per": 1_000_000},
        "dynamodb_read_request_unit": {"usd": 0.125, "per": 1_000_000},
        "dynamodb_storage_gb_month": {"usd": 0.25, "per": 1},
        "websocket_message": {"usd": 1.0, "per": 1_000_000},
        "websocket_connection_minute": {"usd": 0.25, "per": 1_000_000},
    },
    "assumptions": {"connection_minutes_per_socket_per_message": 1.0, "storage_months": 1},
    "alternatives": {
        "x": {
            "name": "X",
            "message_usd_per_million": 2.0,
            "connection_minute_usd_per_million": 1.0,
            "counting": "1 + N",
            "source": "https://example.com",
            "as_of": "2025",
        }
    },
}

SCENARIO: dict[str, Any] = {
    "by_category": {
        "critical": {
            "dynamodb.TransactWriteItems": 1.0,
            "events.PutEvents": 1.0,
            "dynamodb.Query": 1.0,
            "apigatewaymanagementapi.PostToConnection": 2.0,
        },
        "delivery": {"sqs.SendMessage": 1.0, "sqs.ReceiveMessage": 1.0, "sqs.DeleteMessage": 1.0},
    },
    "dynamodb_units": {"wru": 6.0, "rru": 0.5},
    "eventbridge_entries": 1.0,
    "invocations": {
        "api": {"invocations": 1.0, "total_ms": 100.0},
        "broadcaster": {"invocations": 1.0, "total_ms": 50.0},
    },
    "stored_bytes": 2000.0,
}


def test_every_line_is_its_count_times_its_unit_price_per_million() -> None:
    cost = message_cost(SCENARIO, sockets=2, memory_mb={"api": 1024, "broadcaster": 512}, prices=PRICES)
    lines = cost["lines"]
    assert lines["lambda_requests"] == pytest.approx(0.4)  # 2 invocations x $0.20
    # 0.1 s x 1 GB + 0.05 s x 0.5 GB = 0.125 GB-s, x $0.00001, x 1e6
    assert cost["gb_seconds_per_message"] == pytest.approx(0.125)
    assert lines["lambda_duration"] == pytest.approx(1.25)
    assert lines["http_api"] == pytest.approx(1.0)
    assert lines["eventbridge"] == pytest.approx(1.0)
    assert lines["sqs"] == pytest.approx(1.2)  # 3 requests x $0.40
    assert lines["dynamodb_writes"] == pytest.approx(3.75)  # 6 WRU x $0.625
    assert lines["dynamodb_reads"] == pytest.approx(0.0625)
    assert lines["dynamodb_storage"] == pytest.approx(0.5)  # 2 KB x 1e6 = 2 GB-month x $0.25
    assert lines["websocket_messages"] == pytest.approx(2.0)
    assert lines["websocket_connection_minutes"] == pytest.approx(0.5)  # 2 sockets x 1 min x $0.25
    assert cost["usd"] == pytest.approx(sum(lines.values()), abs=0.01)


def test_functions_without_a_spec_are_priced_at_512_mb() -> None:
    invocations = {"ext_x": {"invocations": 1.0, "total_ms": 1000.0}}
    assert lambda_gb_seconds(invocations, {}) == pytest.approx(0.5)


def test_managed_alternatives_charge_one_publish_and_n_deliveries_plus_connection_minutes() -> None:
    alt = PRICES["alternatives"]["x"]
    assert alternative_cost(alt, sockets=2, prices=PRICES) == pytest.approx(3 * 2.0 + 2 * 1.0)
    assert alternatives(PRICES, (2, 10))["x"]["usd"] == {"2": 8.0, "10": 32.0}


def test_the_price_table_in_the_repo_names_a_source_and_a_date_for_every_price() -> None:
    prices = load_prices()
    for entry in [*prices["aws"].values(), *prices["alternatives"].values()]:
        assert entry["source"].startswith("https://")
        assert entry["as_of"]
    # DynamoDB on-demand after the November 2024 cut
    assert prices["aws"]["dynamodb_write_request_unit"]["usd"] == 0.625
    assert prices["aws"]["dynamodb_read_request_unit"]["usd"] == 0.125
