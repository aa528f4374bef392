"""Cost per million messages from measured requests, durations and sizes, and a price table (pure).

``bench/prices.json`` holds the list prices, each with its source and the date it is known from,
the assumptions (connection minutes, storage months, and the all-in block: log bytes by level,
X-Ray sampling and volume, per-request latencies, cold-start share, PITR and archive months), and
the managed alternatives. ``message_cost`` is the model (requests, units, wall time); ``all_in_cost``
adds every line AWS bills that the model leaves out. Everything here is arithmetic on those numbers,
so tests/unit/test_bench_cost.py pins it down.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Profile:
    """How a function is deployed, as far as its bill goes (read from infra/specs.py by the bench)."""

    memory_mb: int = DEFAULT_MEMORY_MB
    system_log_level: str = "INFO"
    application_log_level: str = "INFO"
    traced: bool = True
    log_class: str = "STANDARD"


ALL_IN_LINES = ("gsi_writes", "logs", "xray", "pitr", "init", "data_transfer", "archive")
"""The AWS line items the model leaves out, added by ``all_in_cost`` (``lambda_duration`` is
recomputed from latencies and CPU instead of wall time)."""


def billed_ms(operations: list[str], cpu_ms: float, memory_mb: int, prices: Mapping[str, Any]) -> float:
    """One invocation's billed milliseconds: each AWS request's assumed latency (parallel ones, the
    pushes, once), plus its CPU time slowed to the vCPU share its memory buys, rounded up."""
    duration = prices["assumptions"]["all_in"]["duration"]
    latency = duration["latency_ms"]
    parallel = set(duration["parallel"])
    waited = sum(float(latency.get(op, latency["default"])) for op in operations if op not in parallel)
    waited += max(
        (float(latency.get(op, latency["default"])) for op in operations if op in parallel), default=0.0
    )
    slowdown = max(1.0, float(duration["cpu_full_speed_mb"]) / memory_mb)
    return float(math.ceil(waited + cpu_ms * slowdown))


def init_ms_at(wall_ms: float, cpu_ms: float, memory_mb: int, prices: Mapping[str, Any]) -> float:
    """A cold start at ``memory_mb``: the measured one (at this machine's full core) with its CPU
    part slowed to the memory's vCPU share, as ``billed_ms`` slows an invocation's. Without it a
    smaller memory would look cheaper to start, while its INIT only runs longer."""
    slowdown = max(1.0, float(prices["assumptions"]["all_in"]["duration"]["cpu_full_speed_mb"]) / memory_mb)
    return wall_ms + cpu_ms * (slowdown - 1.0)


MEMORY_SIZES = (128, 256, 512, 768, 1024, 1769)
"""The memories ``memory_options`` weighs (1,769 MB: a full vCPU)."""


def memory_options(
    invocations: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Profile],
    prices: Mapping[str, Any],
    cold_start: Mapping[str, Mapping[str, float]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Per function and memory: its warm invocation's billed ms, its duration's $ per million
    messages and its cold start's ms, from the measured waits and CPU (``billed_ms``'s rule) and
    cold start (``init_ms_at``): what sizing a function's memory reads (README, cost assumptions)."""
    duration = prices["assumptions"]["all_in"]["duration"]
    full_speed = float(duration["cpu_full_speed_mb"])
    found: dict[str, dict[str, dict[str, float]]] = {}
    for function, figures in invocations.items():
        count = float(figures["invocations"])
        if not count or "cpu_ms" not in figures or "billed_ms" not in figures:
            continue
        cpu = float(figures["cpu_ms"]) / count
        current = profiles.get(function, Profile()).memory_mb
        waited = max(0.0, float(figures["billed_ms"]) / count - cpu * max(1.0, full_speed / current))
        cold = cold_start.get(function, {})
        found[function] = {}
        for memory in MEMORY_SIZES:
            warm = waited + cpu * max(1.0, full_speed / memory)
            usd = count * warm / 1000 * memory / 1024 * unit_price(prices, "lambda_gb_second_arm64") * MILLION
            option = {"warm_ms": round(warm, 1), "duration_usd": round(usd, 3)}
            if "median_ms" in cold:
                option["cold_start_ms"] = round(
                    init_ms_at(
                        float(cold["median_ms"]), float(cold.get("cpu_median_ms", 0.0)), memory, prices
                    )
                )
            found[function][str(memory)] = option
    return found


def billed_gb_seconds(
    invocations: Mapping[str, Mapping[str, float]], profiles: Mapping[str, Profile]
) -> float:
    """GB-seconds per message from each function's billed milliseconds (``billed_ms``: latencies of
    its AWS requests plus CPU), falling back to wall time where the bench did not work it out."""
    return sum(
        float(figures.get("billed_ms", figures["total_ms"]))
        / 1000
        * profiles.get(function, Profile()).memory_mb
        / 1024
        for function, figures in invocations.items()
    )


LOG_PRICES = {
    "STANDARD": "cloudwatch_logs_ingested_gb",
    "INFREQUENT_ACCESS": "cloudwatch_logs_ingested_gb_ia",
}
"""The price of a GB ingested into a log group of each class."""


def log_bytes_by_class(
    invocations: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Profile],
    assumptions: Mapping[str, Any],
    *,
    http_requests: float,
) -> dict[str, float]:
    """Bytes of CloudWatch Logs per message by log group class: platform lines and application
    lines at each function's levels, EMF blobs, and the HTTP API's access log (in the api's class)."""
    logs = assumptions["log_bytes"]
    total = {"STANDARD": 0.0}
    access_class = profiles.get("api", Profile()).log_class
    total[access_class] = http_requests * float(logs["http_access_log_per_request"])
    for function, figures in invocations.items():
        profile = profiles.get(function, Profile())
        platform = float(logs["platform_per_invocation"].get(profile.system_log_level, 0))
        application = logs["application_per_invocation"].get(profile.application_log_level, {})
        own = float(application.get(function, application.get("default", 0)))
        emf = float(logs["emf_per_invocation"].get(function, 0))
        if function.startswith("ext_"):
            emf += float(logs.get("extension_usage_per_invocation", 0))
        added = float(figures["invocations"]) * (platform + own + emf)
        total[profile.log_class] = total.get(profile.log_class, 0.0) + added
    return total


def log_bytes(
    invocations: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Profile],
    assumptions: Mapping[str, Any],
    *,
    http_requests: float,
) -> float:
    """Bytes of CloudWatch Logs per message, every class together."""
    return sum(log_bytes_by_class(invocations, profiles, assumptions, http_requests=http_requests).values())


def logs_usd(
    invocations: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Profile],
    prices: Mapping[str, Any],
    *,
    http_requests: float,
) -> float:
    """USD per message of log ingestion, each class's bytes at its price."""
    assumptions = prices["assumptions"]["all_in"]
    by_class = log_bytes_by_class(invocations, profiles, assumptions, http_requests=http_requests)
    return sum(b / 1e9 * unit_price(prices, LOG_PRICES[c]) for c, b in by_class.items() if b)


def traced_share(assumptions: Mapping[str, Any], invocations_per_message: float) -> float:
    """The share of a traced function's invocations X-Ray records at the assumed monthly volume:
    the reservoir's one a second, then the fixed rate of the rest."""
    xray = assumptions["xray"]
    monthly = float(assumptions["posts_per_month"]) * invocations_per_message
    if monthly <= 0:
        return 0.0
    reservoir = float(xray["reservoir_per_second"]) * 30 * 24 * 3600
    kept = min(monthly, reservoir) + float(xray["fixed_rate"]) * max(0.0, monthly - reservoir)
    return kept / monthly


def _xray_traces(
    invocations: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Profile],
    assumptions: Mapping[str, Any],
) -> float:
    traces = 0.0
    for function, figures in invocations.items():
        if profiles.get(function, Profile()).traced:
            count = float(figures["invocations"])
            traces += count * traced_share(assumptions, count)
    return traces


def _init_gb_seconds(
    invocations: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Profile],
    assumptions: Mapping[str, Any],
    cold_start_ms: Mapping[str, float],
) -> float:
    init = assumptions["init"]
    share = float(init["cold_start_fraction"])
    return sum(
        float(figures["invocations"])
        * share
        * float(cold_start_ms.get(function, init["default_init_ms"]))
        / 1000
        * profiles.get(function, Profile()).memory_mb
        / 1024
        for function, figures in invocations.items()
    )


def all_in_cost(
    scenario: Mapping[str, Any],
    *,
    sockets: int,
    profiles: Mapping[str, Profile],
    prices: Mapping[str, Any],
    cold_start_ms: Mapping[str, float] | None = None,
    http_requests: float = 1.0,
) -> dict[str, Any]:
    """USD per million messages with every AWS line item: the model's lines (duration from billed
    milliseconds) plus ``ALL_IN_LINES``, and the model's own total for comparison."""
    memory = {f: p.memory_mb for f, p in profiles.items()}
    model = message_cost(
        scenario, sockets=sockets, memory_mb=memory, prices=prices, http_requests=http_requests
    )
    assumptions = prices["assumptions"]["all_in"]
    invocations: Mapping[str, Mapping[str, float]] = scenario["invocations"]
    measured = scenario.get("bytes", {})
    stored_gb = float(scenario.get("stored_bytes", 0.0)) / 1e9
    events = float(scenario["eventbridge_entries"])
    event_gb = events * float(measured.get("event", assumptions["archive"]["event_bytes"])) / 1e9
    pushes = operation_count(scenario, PUSH)
    out_bytes = pushes * float(measured.get("push", assumptions["data_transfer"]["push_bytes"])) + (
        http_requests
        * float(measured.get("http_response", assumptions["data_transfer"]["http_response_bytes"]))
    )
    gb_seconds = billed_gb_seconds(invocations, profiles)
    per_message = {
        "lambda_duration": gb_seconds * unit_price(prices, "lambda_gb_second_arm64"),
        "gsi_writes": float(scenario["dynamodb_units"].get("index_wru", 0.0))
        * unit_price(prices, "dynamodb_write_request_unit"),
        "logs": logs_usd(invocations, profiles, prices, http_requests=http_requests),
        "xray": _xray_traces(invocations, profiles, assumptions) * unit_price(prices, "xray_trace_recorded"),
        "pitr": stored_gb * float(assumptions["pitr_months"]) * unit_price(prices, "dynamodb_pitr_gb_month"),
        "init": _init_gb_seconds(invocations, profiles, assumptions, cold_start_ms or {})
        * unit_price(prices, "lambda_gb_second_arm64"),
        "data_transfer": out_bytes / 1e9 * unit_price(prices, "data_transfer_out_gb"),
        "archive": event_gb * unit_price(prices, "eventbridge_archive_processed_gb")
        + event_gb
        * float(assumptions["archive"]["retention_months"])
        * unit_price(prices, "eventbridge_archive_gb_month"),
    }
    lines = {**model["lines"], **{name: round(usd * MILLION, 4) for name, usd in per_message.items()}}
    return {
        "usd": round(sum(lines.values()), 2),
        "lines": lines,
        "model_usd": model["usd"],
        "model_lines": model["lines"],
        "gb_seconds_per_message": round(gb_seconds, 6),
        "memory_mb": {f: profiles.get(f, Profile()).memory_mb for f in invocations},
    }


def assumptions_of(prices: Mapping[str, Any], profiles: Mapping[str, Profile]) -> dict[str, Any]:
    """What the all-in figure assumes, in a few words per line (README prints these next to it)."""
    a = prices["assumptions"]["all_in"]
    logs = a["log_bytes"]
    return {
        "posts_per_month": a["posts_per_month"],
        "log_bytes_per_invocation": {
            "platform": logs["platform_per_invocation"],
            "application": logs["application_per_invocation"],
            "emf": logs["emf_per_invocation"],
            "http_access_log": logs["http_access_log_per_request"],
        },
        "xray": {
            "reservoir_per_second": a["xray"]["reservoir_per_second"],
            "fixed_rate": a["xray"]["fixed_rate"],
            "traced": sorted(f for f, p in profiles.items() if p.traced),
        },
        "log_levels": {
            f: f"{p.system_log_level}/{p.application_log_level}" for f, p in sorted(profiles.items())
        },
        "log_classes": {f: p.log_class for f, p in sorted(profiles.items())},
        "memory_mb": {f: p.memory_mb for f, p in sorted(profiles.items())},
        "latency_ms": a["duration"]["latency_ms"],
        "cold_start_fraction": a["init"]["cold_start_fraction"],
        "pitr_months": a["pitr_months"],
        "archive_retention_months": a["archive"]["retention_months"],
        "connection_minutes_per_socket_per_message": prices["assumptions"][
            "connection_minutes_per_socket_per_message"
        ],
        "storage_months": prices["assumptions"]["storage_months"],
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
