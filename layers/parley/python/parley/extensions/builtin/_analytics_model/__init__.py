"""The analytics extension's arithmetic: pure functions, no I/O (the extension and the API share it).

How the aggregates stay exact under at-least-once, unordered delivery:

- Every event analytics counts becomes one **fact** (a small JSON array, never message text) keyed
  by its identity, the event's chat event-log sequence. A chat's facts are **folded from the chat's
  own log** when its report is read (``log``: exactly the events analytics was or would have been
  handed), the log's finished blocks cached, so the log, not delivery, decides: nothing per chat is
  written per event. (Facts stored per event before, ``f#<sequence>`` and blocks of ``BLOCK``
  sequences ``facts#<sequence // BLOCK>``, are still read.)
- Reports are **folds over the facts in sequence order**, computed when read. Anything that
  depends on order is keyed by the events' own identities (a turn's duration is the gap between
  the TurnChanged of ``turn_number`` n and of n + 1; AI requests are matched by ``request_id``),
  never by arrival. Percentiles are exact: the raw values are the facts.
- The cross-chat **rollup** is a tally row per (UTC day, chat, block of sequences): each event adds
  its counts once, keyed by its slot (``rollup``). Additions commute and a replay adds nothing, so
  replays, retries and races converge on the same numbers, and no item grows with the number of
  chats (see ``rollup``).

One idea per module: ``config`` (the extension's id and settings), ``facts`` (events -> facts,
blocks), ``log`` (a chat's facts from its event log), ``stats`` (small exact statistics),
``reports`` (one chat's report), ``rollup`` (the operators' cross-chat summary), ``csv_rows`` (any
report as one tidy CSV table). None imports the extension SDK, so the API can compute reports
without loading the extension platform.
"""

from __future__ import annotations

from parley.extensions.builtin._analytics_model.config import (
    BACKFILL_MAX_EVENTS,
    DAY_SECONDS,
    EXTENSION_ID,
    AnalyticsConfig,
    Status,
)
from parley.extensions.builtin._analytics_model.csv_rows import CSV_COLUMNS, rows, to_csv
from parley.extensions.builtin._analytics_model.facts import (
    BLOCK,
    FACTS_PREFIX,
    UNSEQUENCED_BLOCK,
    Fact,
    Facts,
    add_fact,
    block_key,
    blocks_through,
    fact_key,
    fact_of,
    merge_blocks,
    merge_stored,
    ordered,
    slot_of,
)
from parley.extensions.builtin._analytics_model.log import (
    FOLD_PREFIX,
    Block,
    cached_prefix,
    complete,
    counted,
    fold_into,
    fold_key,
    within_retention,
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
    BACKFILL_PARTITION,
    DAY_SKEW_SECONDS,
    LOGGED,
    MAX_SUMMARY_DAYS,
    ROLLUP_BLOCK,
    ROLLUP_PARTITION,
    ROLLUP_RETENTION_DAYS,
    ROLLUP_SHARDS,
    AnalyticsSummary,
    SummaryDay,
    SummaryPeriod,
    SummaryTotals,
    contributions,
    day_counts,
    done_row,
    logged_partition,
    logged_partitions,
    mark_completed,
    merge_contribution,
    pseudonym,
    rollup_key,
    rollup_keys,
    rollup_partition,
    rollup_partitions,
    summary_report,
    tally_of,
    tally_row,
)
from parley.extensions.builtin._analytics_model.stats import day_of, days_between, mean, percentile, ratio

__all__ = [
    "BACKFILL_MAX_EVENTS",
    "BACKFILL_PARTITION",
    "BLOCK",
    "CSV_COLUMNS",
    "DAY_SECONDS",
    "DAY_SKEW_SECONDS",
    "EXTENSION_ID",
    "FACTS_PREFIX",
    "FOLD_PREFIX",
    "LOGGED",
    "MAX_SUMMARY_DAYS",
    "ROLLUP_BLOCK",
    "ROLLUP_PARTITION",
    "ROLLUP_RETENTION_DAYS",
    "ROLLUP_SHARDS",
    "SENDER_KINDS",
    "UNSEQUENCED_BLOCK",
    "AIStats",
    "AnalyticsConfig",
    "AnalyticsSummary",
    "Block",
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
    "cached_prefix",
    "chat_report",
    "complete",
    "contributions",
    "counted",
    "day_counts",
    "day_of",
    "days_between",
    "done_row",
    "fact_key",
    "fact_of",
    "fold_into",
    "fold_key",
    "logged_partition",
    "logged_partitions",
    "mark_completed",
    "mean",
    "merge_blocks",
    "merge_contribution",
    "merge_stored",
    "ordered",
    "percentile",
    "pseudonym",
    "ratio",
    "rollup_key",
    "rollup_keys",
    "rollup_partition",
    "rollup_partitions",
    "rows",
    "slot_of",
    "summary_report",
    "tally_of",
    "tally_row",
    "to_csv",
    "within_retention",
]
