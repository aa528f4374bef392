"""Per-extension usage for operators: what each extension's function reported on a UTC day, and its
estimated cost (``GET /extensions/{extension_id}/usage``).

The figures are the SDK's own usage metrics (``parley.extensions.sdk``: one EMF line per
invocation, namespace ``Parley``, dimensions ``extension_id`` and ``service``), the same the
dashboard graphs (``infra.observability``), read back from CloudWatch; counting them costs no write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Protocol

from parley.clock import utc_now
from parley.errors import ExtensionNotFoundError
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.usage import USAGE_METRICS, USAGE_USD, ExtensionUsage


class UsageReader(Protocol):
    def daily(self, extension_id: str, day: date) -> Mapping[str, float]:
        """Each of ``USAGE_METRICS`` summed over the UTC day, across the functions reporting it."""
        ...


class UsageService:
    def __init__(
        self,
        registry: Callable[[], Mapping[str, ExtensionDocument]],
        metrics: UsageReader,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._registry = registry
        self._metrics = metrics
        self._clock = clock

    def daily(self, extension_id: str, day: date | None) -> ExtensionUsage:
        """A registered extension's figures for the day (default today, UTC); the caller has
        checked that an operator asks."""
        if extension_id not in self._registry():
            raise ExtensionNotFoundError(f"no extension {extension_id!r} is registered")
        day = day or self._clock().date()
        totals = self._metrics.daily(extension_id, day)
        counts = {name: round(totals.get(name, 0.0)) for name in USAGE_METRICS}
        return ExtensionUsage(
            extension_id=extension_id,
            day=day,
            invocations=counts["ExtensionInvocations"],
            events=counts["ExtensionEvents"],
            writes=counts["ExtensionWrites"],
            estimated_usd=round(sum(counts[name] * usd for name, usd in USAGE_USD.items()), 6),
        )
