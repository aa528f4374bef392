"""The CI-sized `make chaos`: a fixed-seed workload under every fault point, then the conservation law."""

from __future__ import annotations

from tests.support.chaos import CI, chaos_stack, run

SEED = 1


def test_nothing_is_lost_doubled_or_stuck_while_faults_fire() -> None:
    lines: list[str] = []
    with chaos_stack() as base:
        verdict = run(base, CI, SEED, out=lines.append)
    report = "\n".join(lines)
    assert verdict.posts >= CI.chats * CI.members, report
    assert sum(verdict.fired.values()) > 0, report
    assert not verdict.problems, report
    assert (verdict.lost, verdict.duplicated, verdict.gaps, verdict.stuck) == (0, 0, 0, 0), report
    assert lines[-1].startswith("chaos: "), report
    assert lines[-1].endswith(" 0 lost, 0 duplicated, 0 gaps, 0 stuck"), report
