"""The analytics extension's arithmetic: pure functions, no I/O (the extension and the API share it).

How the aggregates stay exact under at-least-once, unordered delivery:

- Every event the extension keeps becomes one **fact** (a small JSON array, never message text),
  stored under its identity: the event's chat event-log sequence. Facts live in **blocks** of
  ``BLOCK`` sequences (``facts#<sequence // BLOCK>``), so one write touches one small item.
  Adding a fact is a map insert keyed by identity: a duplicate changes nothing, and inserts
  commute, so any arrival order gives the same block.
- Reports are **folds over the facts in sequence order**, computed when read. Anything that
  depends on order is keyed by the events' own identities (a turn's duration is the gap between
  the TurnChanged of ``turn_number`` n and of n + 1; AI requests are matched by ``request_id``),
  never by arrival. Percentiles are exact: the raw values are the facts.
- The cross-chat **rollup** keeps, per UTC day and chat, one contribution per block, stamped with
  the block's revision; a write replaces a contribution only with a newer revision (a superset of
  facts). Replays, retries and races therefore converge on the same numbers.

One idea per module: ``config`` (the extension's id and settings), ``facts`` (events -> facts,
blocks), ``stats`` (small exact statistics), ``reports`` (one chat's report), ``rollup`` (the
operators' cross-chat summary), ``csv_rows`` (any report as one tidy CSV table). None imports the
extension SDK, so the API can compute reports without loading the extension platform.
"""

from __future__ import annotations

from parley.extensions.builtin._analytics_model.config import (
    DAY_SECONDS,
    EXTENSION_ID,
    AnalyticsConfig,
    Status,
)
from parley.extensions.builtin._analytics_model.csv_rows import CSV_COLUMNS, rows, to_csv
from parley.extensions.builtin._analytics_model.facts import (
    BLOCK,
    UNSEQUENCED_BLOCK,
    Fact,
    Facts,
    add_fact,
    block_key,
    blocks_through,
    fact_of,
    merge_blocks,
    ordered,
    slot_of,
)
from parley.extensions.builtin._analytics_model.reports import (
    SENDER_KINDS,
    AIStats,
    ChatAnalytics,
    DayStats,
    Engagement,
    LengthStats,
    MessageStats,
    ModeStats,
    ParticipantStats,
    Percentiles,
    Period,
    SenderKind,
    SenderStats,
    Session,
    TurnStats,
    chat_report,
)
from parley.extensions.builtin._analytics_model.rollup import (
    MAX_SUMMARY_DAYS,
    ROLLUP_PARTITION,
    ROLLUP_RETENTION_DAYS,
    ROLLUP_SHARDS,
    AnalyticsSummary,
    SummaryDay,
    SummaryPeriod,
    SummaryTotals,
    contributions,
    mark_completed,
    merge_contribution,
    pseudonym,
    rollup_key,
    rollup_keys,
    summary_report,
)
from parley.extensions.builtin._analytics_model.stats import day_of, days_between, mean, percentile, ratio

__all__ = [
    "BLOCK",
    "CSV_COLUMNS",
    "DAY_SECONDS",
    "EXTENSION_ID",
    "MAX_SUMMARY_DAYS",
    "ROLLUP_PARTITION",
    "ROLLUP_RETENTION_DAYS",
    "ROLLUP_SHARDS",
    "SENDER_KINDS",
    "UNSEQUENCED_BLOCK",
    "AIStats",
    "AnalyticsConfig",
    "AnalyticsSummary",
    "ChatAnalytics",
    "DayStats",
    "Engagement",
    "Fact",
    "Facts",
    "LengthStats",
    "MessageStats",
    "ModeStats",
    "ParticipantStats",
    "Percentiles",
    "Period",
    "SenderKind",
    "SenderStats",
    "Session",
    "Status",
    "SummaryDay",
    "SummaryPeriod",
    "SummaryTotals",
    "TurnStats",
    "add_fact",
    "block_key",
    "blocks_through",
    "chat_report",
    "contributions",
    "day_of",
    "days_between",
    "fact_of",
    "mark_completed",
    "mean",
    "merge_blocks",
    "merge_contribution",
    "ordered",
    "percentile",
    "pseudonym",
    "ratio",
    "rollup_key",
    "rollup_keys",
    "rows",
    "slot_of",
    "summary_report",
    "to_csv",
]
