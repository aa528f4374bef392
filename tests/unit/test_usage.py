"""Per-extension usage for operators (``parley.services.usage``): a registered extension's figures of
a day, and their estimate at list prices."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

import pytest

from bench.cost import load_prices
from parley.errors import ExtensionNotFoundError
from parley.extensions.builtin.welcome import extension as welcome
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.usage import USAGE_USD
from parley.services.usage import UsageService

NOW = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)


class Metrics:
    def __init__(self) -> None:
        self.asked: list[tuple[str, date]] = []

    def daily(self, extension_id: str, day: date) -> Mapping[str, float]:
        self.asked.append((extension_id, day))
        return {"ExtensionInvocations": 1000.0, "ExtensionEvents": 1200.0, "ExtensionWrites": 2000.0}


def registry() -> dict[str, ExtensionDocument]:
    return {"welcome": welcome.manifest.document()}


def test_a_days_figures_and_their_estimate() -> None:
    metrics = Metrics()
    usage = UsageService(registry, metrics, clock=lambda: NOW).daily("welcome", None)

    assert metrics.asked == [("welcome", date(2026, 12, 1))]  # today, UTC, by default
    assert (usage.invocations, usage.events, usage.writes) == (1000, 1200, 2000)
    assert usage.estimated_usd == pytest.approx(1000 * 0.0000014 + 2000 * 0.000000625)


def test_an_unregistered_extension_is_not_found() -> None:
    with pytest.raises(ExtensionNotFoundError):
        UsageService(registry, Metrics(), clock=lambda: NOW).daily("nobody", date(2026, 12, 1))


def test_the_estimate_uses_the_bench_list_prices() -> None:
    prices = load_prices()["aws"]
    per = {k: v["usd"] / v["per"] for k, v in prices.items()}
    assert USAGE_USD["ExtensionInvocations"] == pytest.approx(per["lambda_request"] + 3 * per["sqs_request"])
    assert USAGE_USD["ExtensionWrites"] == pytest.approx(per["dynamodb_write_request_unit"])
