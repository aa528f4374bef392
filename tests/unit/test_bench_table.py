"""The results table of `make bench` (bench/__main__.py): which rows it shows and what it calls met."""

from __future__ import annotations

from typing import Any

from bench.__main__ import SECTIONS, table

COST: dict[str, Any] = {
    "cost_per_million": {
        "2": {
            "usd": 7.5,
            "lines": {"lambda": 4.0, "dynamodb": 3.5},
            "core_usd": 5.0,
            "core_lines": {"lambda": 5.0},
        },
        "10": {"usd": 20.0, "lines": {"lambda": 20.0}},
    }
}


def _rows(results: dict[str, Any], sections: list[str]) -> list[list[str]]:
    lines = table(results, sections)
    assert lines[:2] == ["| measure | value | target | met |", "| --- | --- | --- | --- |"]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_only_n2_costs_are_held_to_the_target_with_and_without_extensions() -> None:
    # Given N=2 over the target with extensions and under it without, and an N=10 figure
    # When the requests section is tabled
    rows = _rows(COST, ["requests"])

    # Then N=2 shows its overshoot with extensions and is met for the core alone; N=10 has no target
    assert [row[0] for row in rows] == [
        "cost per million messages, N=2 (Parley with its shipped extensions)",
        "cost per million messages, N=2 (core only, no extension functions)",
        "cost per million messages, N=10 (Parley with its shipped extensions)",
    ]
    assert rows[0][1:] == ["$7.50 (lambda $4.00, dynamodb $3.50)", "<= $6", "**no** (+$1.50)"]
    assert rows[1][3] == "yes"
    assert rows[2][2:] == ["", ""]


def test_the_paced_run_is_met_only_when_it_delivers_the_offered_rate_fast_enough() -> None:
    # Given paced runs: one delivering 24 of 25 posts/s at p50 100 ms, one with no latency sample
    paced = {"offered_per_s": 25.0, "seconds": 60.0, "chats": 10, "sockets": 20, "msgs_per_s": 24.0}
    paced |= {"push_p99_ms": 300, "lost_pushes": 0}
    fast = {"local": {"paced": paced | {"push_p50_ms": 100}}}
    unmeasured = {"local": {"paced": paced | {"push_p50_ms": None}}}

    # When they are tabled; Then 24/s (within 5% of 25) at 100 ms is met, no sample is not
    assert _rows(fast, ["local"])[0][3] == "yes"
    assert _rows(unmeasured, ["local"])[0][3] == "**no** (24.0/s, p50 None ms)"


def test_cpu_per_post_is_met_only_when_each_process_is_within_its_share() -> None:
    # Given the fixed workload's CPU per post: both processes within 28 ms, then moto over it,
    # then moto not measured (no /proc)
    cpu = {"posts": 300, "chats": 10, "in_flight_per_chat": 4, "stack": 21.0}
    within = {"local": {"cpu_ms_per_post": cpu | {"moto": 15.2}}}
    over = {"local": {"cpu_ms_per_post": cpu | {"moto": 30.5}}}
    unmeasured = {"local": {"cpu_ms_per_post": cpu | {"moto": None}}}

    # When they are tabled
    # Then the row names both processes, and only both measured and within their share is met
    row = _rows(within, ["local"])[0]
    assert row == [
        "local: CPU per post (300 posts, 10 chats, closed loop)",
        "stack 21.0 ms; moto 15.2 ms",
        "<= 28 ms each",
        "yes",
    ]
    assert _rows(over, ["local"])[0][3] == "**no** (stack 21.0 ms, moto 30.5 ms)"
    assert _rows(unmeasured, ["local"])[0][1:4:2] == ["stack 21.0 ms", "**no** (stack 21.0 ms)"]


def test_sections_not_run_and_failed_measures_show_as_such() -> None:
    # Given a cold start that failed, a layer that was not measured, and cost figures
    results = {
        "cold_start": {"api": {"error": "ImportError"}},
        "cold_start_baseline": {"target_ratio": 1.5, "median_ms": 100},
        "sizes": {"functions": {"api": {"zipped_bytes": 2048}}, "layer": {"error": "no zip"}},
        **COST,
    }

    # When only cold start and sizes ran
    rows = _rows(results, [s for s in SECTIONS if s in ("cold_start", "sizes")])

    # Then their rows say what failed, and the cost rows (not run now) are left out
    assert rows == [
        ["cold start `api`", "failed: ImportError", "", "**no**"],
        ["function code, zipped", "api 2.0 KB", "", ""],
        ["shared layer, zipped", "not measured: no zip", "", ""],
    ]
