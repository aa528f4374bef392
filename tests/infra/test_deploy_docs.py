"""docs/deploy.md's figures come from the code: the cost table from bench/results.json, and the
dashboard, alarm and sweeper counts from the synthesized template and the adapters' shard counts."""

from __future__ import annotations

import json
import re
from typing import Any

from parley.adapters.dynamodb import TURN_SHARDS
from scripts import deploy_costs
from tests.infra.conftest import ROOT, Synth

DOC = (ROOT / "docs" / "deploy.md").read_text()


def _resolved(value: Any) -> Any:
    """A dashboard body with its tokens (Refs, GetAtts) replaced by a placeholder, as JSON."""
    parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def dashboard_metrics(synth: Synth) -> int:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = _resolved(dashboard["Properties"]["DashboardBody"])
    entries = [m for w in body["widgets"] for m in w["properties"].get("metrics", [])]
    return sum(1 for m in entries if not (isinstance(m[0], dict) and "expression" in m[0]))


def alarm_metrics(synth: Synth) -> int:
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]
    return sum(1 if "MetricName" in a else sum("MetricStat" in m for m in a["Metrics"]) for a in alarms)


def test_the_cost_table_is_what_make_bench_measured() -> None:
    assert deploy_costs.main(["--check"]) == 0
    assert "broadcaster" in DOC[DOC.index(deploy_costs.BEGIN) - 800 : DOC.index(deploy_costs.END)]


def test_the_dashboard_and_alarm_counts_are_the_templates(synth: Synth) -> None:
    metrics = dashboard_metrics(synth)
    # over 50 metrics a dashboard is never in the free tier
    assert metrics > 50
    assert f"{metrics} metrics" in DOC
    assert f"{alarm_metrics(synth)} alarm metrics" in DOC


def test_the_sweeper_query_count_is_the_shards(synth: Synth) -> None:
    # the turn-deadline shards only: the outbox has no index since the stream publishes
    assert re.search(rf"\b{TURN_SHARDS} empty shard queries per run\b", DOC)
