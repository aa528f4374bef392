"""Cost per million messages from measured requests, durations and sizes, and a price table (pure).

``bench/prices.json`` holds the list prices, each with its source and the date it is known from,
the assumptions (connection minutes, storage months), and the managed alternatives. Everything
here is arithmetic on those numbers, so tests/unit/test_bench_cost.py pins it down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().parent / "prices.json"
MILLION = 1_000_000
PUSH = "apigatewaymanagementapi.PostToConnection"
DEFAULT_MEMORY_MB = 512


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    prices: dict[str, Any] = json.loads(path.read_text())
    return prices


def unit_price(prices: Mapping[str, Any], name: str) -> float:
    """USD for one unit of an AWS price line (``usd`` per ``per`` units)."""
    entry = prices["aws"][name]
    return float(entry["usd"]) / float(entry["per"])


def operation_count(scenario: Mapping[str, Any], prefix: str) -> float:
    """Requests per message whose ``service.Operation`` starts with ``prefix``, in every category."""
    return sum(
        float(count)
        for operations in scenario["by_category"].values()
        for name, count in operations.items()
        if name.startswith(prefix)
    )


def lambda_gb_seconds(invocations: Mapping[str, Mapping[str, float]], memory_mb: Mapping[str, int]) -> float:
    """GB-seconds per message: each function's measured milliseconds at its configured memory."""
    return sum(
        float(figures["total_ms"]) / 1000 * memory_mb.get(function, DEFAULT_MEMORY_MB) / 1024
        for function, figures in invocations.items()
    )


def message_cost(
    scenario: Mapping[str, Any],
    *,
    sockets: int,
    memory_mb: Mapping[str, int],
    prices: Mapping[str, Any],
    http_requests: float = 1.0,
) -> dict[str, Any]:
    """USD per million messages, by line, for one measured scenario (requests per message)."""
    assumptions = prices["assumptions"]
    invocations: Mapping[str, Mapping[str, float]] = scenario["invocations"]
    units = scenario["dynamodb_units"]
    gb_seconds = lambda_gb_seconds(invocations, memory_mb)
    connection_minutes = sockets * float(assumptions["connection_minutes_per_socket_per_message"])
    stored_gb_months = float(scenario.get("stored_bytes", 0.0)) / 1e9 * float(assumptions["storage_months"])
    per_message = {
        "lambda_requests": sum(float(f["invocations"]) for f in invocations.values())
        * unit_price(prices, "lambda_request"),
        "lambda_duration": gb_seconds * unit_price(prices, "lambda_gb_second_arm64"),
        "http_api": http_requests * unit_price(prices, "http_api_request"),
        "eventbridge": float(scenario["eventbridge_entries"])
        * unit_price(prices, "eventbridge_custom_event"),
        "sqs": operation_count(scenario, "sqs.") * unit_price(prices, "sqs_request"),
        "dynamodb_writes": float(units["wru"]) * unit_price(prices, "dynamodb_write_request_unit"),
        "dynamodb_reads": float(units["rru"]) * unit_price(prices, "dynamodb_read_request_unit"),
        "dynamodb_storage": stored_gb_months * unit_price(prices, "dynamodb_storage_gb_month"),
        "websocket_messages": operation_count(scenario, PUSH) * unit_price(prices, "websocket_message"),
        "websocket_connection_minutes": connection_minutes
        * unit_price(prices, "websocket_connection_minute"),
    }
    lines = {name: round(usd * MILLION, 4) for name, usd in per_message.items()}
    return {
        "usd": round(sum(per_message.values()) * MILLION, 2),
        "lines": lines,
        "gb_seconds_per_message": round(gb_seconds, 6),
        "memory_mb": {f: memory_mb.get(f, DEFAULT_MEMORY_MB) for f in invocations},
    }


def alternative_cost(alternative: Mapping[str, Any], *, sockets: int, prices: Mapping[str, Any]) -> float:
    """USD per million messages on a managed transport: 1 + N messages and N connection minutes each."""
    minutes = sockets * float(prices["assumptions"]["connection_minutes_per_socket_per_message"])
    per_million = (1 + sockets) * float(alternative["message_usd_per_million"]) + minutes * float(
        alternative["connection_minute_usd_per_million"]
    )
    return round(per_million, 2)


def alternatives(prices: Mapping[str, Any], sockets: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    return {
        key: {
            "name": alt["name"],
            "usd": {str(n): alternative_cost(alt, sockets=n, prices=prices) for n in sockets},
            "counting": alt["counting"],
            "source": alt["source"],
            "as_of": alt["as_of"],
        }
        for key, alt in prices["alternatives"].items()
    }
