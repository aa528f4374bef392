"""CloudWatch metrics read back: an extension's usage (the SDK's EMF metrics) summed over a UTC day."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from parley.adapters import aws
from parley.adapters.eventbridge import CLIENT_CONFIG
from parley.errors import MetricsUnavailableError

NAMESPACE = "Parley"
QUERIES_PER_REQUEST = 500
"""GetMetricData's limit on queries in one request."""


class UsageMetrics:
    """Sums each metric over every dimension set that carries ``extension_id`` (one per function's
    ``service``): ListMetrics to find them, then GetMetricData with a one-day period."""

    def __init__(self, metric_names: Sequence[str], *, client: Any | None = None) -> None:
        self._names = tuple(metric_names)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("cloudwatch", config=CLIENT_CONFIG)
        return self._client

    def daily(self, extension_id: str, day: date) -> dict[str, float]:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        totals = dict.fromkeys(self._names, 0.0)
        try:
            queries = list(self._queries(extension_id))
            for n in range(0, len(queries), QUERIES_PER_REQUEST):
                for name, values in self._values(queries[n : n + QUERIES_PER_REQUEST], start):
                    totals[name] += sum(values)
        except (BotoCoreError, ClientError) as exc:
            raise MetricsUnavailableError("CloudWatch did not answer the usage read") from exc
        return totals

    def _queries(self, extension_id: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for name in self._names:
            pages = self.client.get_paginator("list_metrics").paginate(
                Namespace=NAMESPACE,
                MetricName=name,
                Dimensions=[{"Name": "extension_id", "Value": extension_id}],
            )
            for metric in (m for page in pages for m in page.get("Metrics", [])):
                key = json.dumps(
                    [name, sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))]
                )
                if key in seen:  # a metric listed twice must not be summed twice
                    continue
                seen.add(key)
                stat = {"Metric": metric, "Period": 86400, "Stat": "Sum"}
                yield {"Id": f"m{len(seen)}", "Label": name, "MetricStat": stat, "ReturnData": True}

    def _values(self, queries: list[dict[str, Any]], start: datetime) -> Iterator[tuple[str, list[float]]]:
        labels = {q["Id"]: q["Label"] for q in queries}
        pages = self.client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=start + timedelta(days=1)
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                yield labels[result["Id"]], [float(v) for v in result.get("Values", [])]
