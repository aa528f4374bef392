"""Cost per million messages from request counts and prices (bench/cost.py), with round numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bench.cost import (
    ALL_IN_LINES,
    LOG_PRICES,
    Profile,
    all_in_cost,
    alternative_cost,
    alternatives,
    assumptions_of,
    billed_ms,
    init_ms_at,
    lambda_gb_seconds,
    load_prices,
    memory_options,
    message_cost,
    traced_share,
)

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


# -- all-in ---------------------------------------------------------------------------------------------

ALL_IN: dict[str, Any] = {
    **PRICES,
    "aws": {
        **PRICES["aws"],
        "cloudwatch_logs_ingested_gb": {"usd": 0.5, "per": 1},
        "xray_trace_recorded": {"usd": 5.0, "per": 1_000_000},
        "dynamodb_pitr_gb_month": {"usd": 0.2, "per": 1},
        "eventbridge_archive_processed_gb": {"usd": 0.1, "per": 1},
        "eventbridge_archive_gb_month": {"usd": 0.02, "per": 1},
        "data_transfer_out_gb": {"usd": 0.09, "per": 1},
    },
    "assumptions": {
        **PRICES["assumptions"],
        "all_in": {
            # 2,592,000 a month per function fills the reservoir: half the volume
            "posts_per_month": 5_184_000,
            "log_bytes": {
                "platform_per_invocation": {"INFO": 600, "WARN": 0},
                "application_per_invocation": {"INFO": {"broadcaster": 400, "default": 0}, "WARN": {}},
                "emf_per_invocation": {},
                "http_access_log_per_request": 1000,
            },
            "xray": {"reservoir_per_second": 1, "fixed_rate": 0.5},
            "duration": {
                "latency_ms": {"dynamodb.GetItem": 5, "push": 10, "default": 20},
                "parallel": ["push"],
                "cpu_full_speed_mb": 2048,
            },
            "init": {"cold_start_fraction": 0.01, "default_init_ms": 1000},
            "pitr_months": 1,
            "archive": {"event_bytes": 1000, "retention_months": 1},
            "data_transfer": {"push_bytes": 1000, "http_response_bytes": 1000},
        },
    },
}
PROFILES = {
    "api": Profile(memory_mb=1024, system_log_level="INFO", application_log_level="INFO", traced=True),
    "broadcaster": Profile(
        memory_mb=512, system_log_level="WARN", application_log_level="WARN", traced=False
    ),
}


def test_billed_duration_is_latencies_plus_cpu_at_the_memorys_share_of_a_vcpu() -> None:
    # 5 + 20 + one of the parallel pushes (10) = 35 ms waited; 2 ms CPU at 1 GB = half a vCPU: 4 ms
    assert billed_ms(["dynamodb.GetItem", "x.Y", "push", "push"], 2.0, 1024, ALL_IN) == 39.0
    # a full vCPU or more: CPU as measured, rounded up to the millisecond
    assert billed_ms([], 2.2, 4096, ALL_IN) == 3.0


def test_xray_records_the_reservoir_then_the_fixed_rate() -> None:
    assumptions = ALL_IN["assumptions"]["all_in"]
    # half the month's invocations fit the reservoir, half of the rest are sampled
    assert traced_share(assumptions, 1.0) == pytest.approx(0.75)
    assert traced_share({**assumptions, "posts_per_month": 1000}, 1.0) == 1.0


def test_every_all_in_line_is_its_assumption_times_its_price() -> None:
    scenario = {
        **SCENARIO,
        "invocations": {
            "api": {"invocations": 1.0, "total_ms": 100.0, "billed_ms": 40.0},
            "broadcaster": {"invocations": 1.0, "total_ms": 50.0, "billed_ms": 20.0},
        },
        "dynamodb_units": {"wru": 6.0, "rru": 0.5, "index_wru": 4.0},
        "bytes": {"push": 500.0},
    }

    cost = all_in_cost(scenario, sockets=2, profiles=PROFILES, prices=ALL_IN, cold_start_ms={"api": 2000.0})

    lines = cost["lines"]
    assert set(ALL_IN_LINES) <= set(lines)
    # 0.04 s x 1 GB + 0.02 s x 0.5 GB = 0.05 GB-s x $0.00001
    assert lines["lambda_duration"] == pytest.approx(0.5)
    assert lines["gsi_writes"] == pytest.approx(2.5)  # 4 WRU x $0.625
    # api: 600 B platform + HTTP access log 1,000 B; the broadcaster at WARN logs nothing
    assert lines["logs"] == pytest.approx(1600 / 1e9 * 0.5 * 1e6)
    assert lines["xray"] == pytest.approx(0.75 * 5.0)  # the api only, 75% of its invocations
    assert lines["pitr"] == pytest.approx(0.4)  # 2 KB x 1e6 = 2 GB-month x $0.20
    # 1% cold: api 2 s x 1 GB, broadcaster 1 s (default) x 0.5 GB = 0.025 GB-s x $0.00001
    assert lines["init"] == pytest.approx(0.25)
    # two 500 B pushes (measured) and a 1,000 B response: 2 KB x 1e6 = 2 GB x $0.09
    assert lines["data_transfer"] == pytest.approx(0.18)
    # one 1 KB event: 1 GB processed x $0.10 and stored a month x $0.02
    assert lines["archive"] == pytest.approx(0.12)
    assert cost["usd"] == pytest.approx(sum(lines.values()), abs=0.01)
    assert cost["model_usd"] < cost["usd"]


def test_the_repos_assumptions_cover_every_function_level_and_line() -> None:
    prices = load_prices()
    assumptions = prices["assumptions"]["all_in"]
    for level in ("INFO", "WARN"):
        assert level in assumptions["log_bytes"]["platform_per_invocation"]
        assert level in assumptions["log_bytes"]["application_per_invocation"]
    for name in ("cloudwatch_logs_ingested_gb", "xray_trace_recorded", "dynamodb_pitr_gb_month"):
        assert prices["aws"][name]["source"].startswith("https://")
    printed = assumptions_of(prices, PROFILES)
    assert printed["xray"]["traced"] == ["api"]
    assert printed["log_levels"]["broadcaster"] == "WARN/WARN"


def test_logs_in_the_infrequent_access_class_cost_its_price_and_the_access_log_follows_the_api() -> None:
    # Given the api's group (and so the HTTP access log) in Infrequent Access at half the price
    prices = {
        **ALL_IN,
        "aws": {**ALL_IN["aws"], "cloudwatch_logs_ingested_gb_ia": {"usd": 0.25, "per": 1}},
    }
    profiles = {**PROFILES, "api": replace(PROFILES["api"], log_class="INFREQUENT_ACCESS")}
    scenario = {
        **SCENARIO,
        "invocations": {
            "api": {"invocations": 1.0, "total_ms": 100.0, "billed_ms": 40.0},
            "broadcaster": {"invocations": 1.0, "total_ms": 50.0, "billed_ms": 20.0},
        },
    }

    cost = all_in_cost(scenario, sockets=2, profiles=profiles, prices=prices)

    # Then the api's 600 B platform lines and the 1,000 B access log are priced at $0.25 a GB
    assert cost["lines"]["logs"] == pytest.approx(1600 / 1e9 * 0.25 * 1e6)
    assert assumptions_of(prices, profiles)["log_classes"]["api"] == "INFREQUENT_ACCESS"


def test_the_repos_prices_have_each_log_class() -> None:
    prices = load_prices()
    for name in LOG_PRICES.values():
        assert prices["aws"][name]["source"].startswith("https://")
    usd = {c: prices["aws"][name]["usd"] for c, name in LOG_PRICES.items()}
    assert usd["INFREQUENT_ACCESS"] < usd["STANDARD"]


def test_a_cold_start_at_a_smaller_memory_runs_its_cpu_part_slower() -> None:
    # 1,000 ms measured, 600 of them CPU: at 1 GB (half a vCPU here) the CPU part takes twice as long
    assert init_ms_at(1000.0, 600.0, 1024, ALL_IN) == pytest.approx(1600.0)
    assert init_ms_at(1000.0, 600.0, 512, ALL_IN) == pytest.approx(2800.0)
    # a full vCPU or more: as measured
    assert init_ms_at(1000.0, 600.0, 4096, ALL_IN) == 1000.0


def test_memory_options_weigh_the_measured_wait_and_cpu_at_each_memory() -> None:
    # Given a broadcaster at 512 MB billed 30 ms: 2 ms of CPU at a quarter vCPU (8 ms) and 22 ms waited
    invocations = {"broadcaster": {"invocations": 1.0, "total_ms": 50.0, "billed_ms": 30.0, "cpu_ms": 2.0}}
    cold = {"broadcaster": {"median_ms": 1000.0, "cpu_median_ms": 600.0}}

    options = memory_options(invocations, PROFILES, ALL_IN, cold)["broadcaster"]

    # Then at 256 MB the CPU takes 16 ms: 38 ms at 0.25 GB; at 2,048 MB (a full vCPU) 24 ms at 2 GB
    assert options["256"]["warm_ms"] == 38.0
    assert options["256"]["duration_usd"] == pytest.approx(38 / 1000 * 0.25 * 0.00001 * 1e6)
    assert options["1024"]["warm_ms"] == 26.0
    # and the cold start's CPU part slows alike: 400 ms of waiting plus 600 ms x 8
    assert options["256"]["cold_start_ms"] == 400 + 4800
