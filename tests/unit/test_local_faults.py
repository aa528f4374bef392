"""The local stack's fault switches: rule validation, seeded firing, counts and recovery."""

from __future__ import annotations

import pytest

from infra.local.faults import POINTS, FaultRuleError, Faults, Rule, parse_rules, parse_seed


def test_the_issue_s_points_are_all_there() -> None:
    assert set(POINTS) >= {
        "publish",
        "publish.entry",
        "dynamodb.throttle",
        "deliver.duplicate",
        "deliver.reorder",
        "handler.crash",
        "push.gone",
        "push.error",
        "hook.timeout",
        "ai.error",
        "ai.throttle",
    }


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"rules": [{"point": "nope", "rate": 0.5}]}, "unknown point 'nope'"),
        ({"rules": [{"point": "publish", "rate": 1.5}]}, "rate must be a number from 0 to 1"),
        ({"rules": [{"point": "publish", "rate": -0.1}]}, "rate must be a number from 0 to 1"),
        ({"rules": [{"point": "publish", "rate": True}]}, "rate must be a number"),
        ({"rules": [{"point": "publish", "rate": 0.5, "count": -1}]}, "count must be a whole number"),
        ({"rules": [{"point": "publish", "rate": 0.5, "every": 2}]}, "unknown field(s) every"),
        ({"rules": "publish"}, 'expected {"rules"'),
        ({"rules": [], "extra": 1}, "unknown field(s): extra"),
    ],
)
def test_a_bad_rule_is_refused_with_what_is_wrong(body: object, says: str) -> None:
    with pytest.raises(FaultRuleError, match=None) as refused:
        parse_rules(body)
    assert says in str(refused.value)


def test_a_good_body_parses() -> None:
    body = {
        "rules": [{"point": "publish", "rate": 1}, {"point": "ai.error", "rate": 0.25, "count": 3}],
        "seed": 9,
    }
    assert parse_rules(body) == [Rule("publish", 1.0, None), Rule("ai.error", 0.25, 3)]
    assert parse_seed(body) == 9
    with pytest.raises(FaultRuleError):
        parse_seed({"rules": [], "seed": "x"})


def test_the_same_seed_fires_the_same_way() -> None:
    def pattern(seed: int) -> list[bool]:
        faults = Faults(seed)
        faults.arm([Rule("push.error", 0.3)])
        return [faults.fire("push.error") for _ in range(200)]

    assert pattern(4) == pattern(4)
    assert pattern(4) != pattern(5)
    assert 30 < sum(pattern(4)) < 90


def test_count_bounds_firing_and_clear_disarms() -> None:
    faults = Faults(1)
    faults.arm([Rule("publish", 1.0, count=2)])
    assert [faults.fire("publish") for _ in range(4)] == [True, True, False, False]
    faults.arm([Rule("publish", 1.0)])
    faults.clear()
    assert not faults.fire("publish")
    assert not faults.fire("ai.error")  # never armed
    assert faults.snapshot()["points"][0] == {
        "point": "publish",
        "does": POINTS["publish"],
        "fired": 2,
        "recovered": 0,
        "unrecovered": 0,
        "unrecovered_sample": [],
    }


def test_a_firing_is_recovered_once_every_unit_it_hit_went_through() -> None:
    faults = Faults(1)
    faults.arm([Rule("publish", 1.0), Rule("handler.crash", 1.0)])
    assert faults.fire("publish", keys=["e1", "e2"])
    assert faults.fire("handler.crash", key="broadcaster:e1")
    faults.succeeded("e1")
    assert faults.recovered["publish"] == 0
    faults.succeeded("e2", ("publish",))
    faults.succeeded("broadcaster:e1", ("publish",))  # not a point it is counted for
    assert faults.recovered == {"publish": 1}
    by_point = {p["point"]: p for p in faults.snapshot()["points"]}
    assert by_point["handler.crash"]["unrecovered"] == 1
    assert by_point["handler.crash"]["unrecovered_sample"] == ["broadcaster:e1"]


def test_parley_faults_arms_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_FAULTS", '{"rules": [{"point": "hook.timeout", "rate": 1}], "seed": 3}')
    monkeypatch.delenv("PARLEY_FAULTS_SEED", raising=False)
    faults = Faults.from_environment()
    assert faults.seed == 3
    assert faults.fire("hook.timeout")
    monkeypatch.setenv("PARLEY_FAULTS_SEED", "11")
    assert Faults.from_environment().seed == 11
    monkeypatch.setenv("PARLEY_FAULTS", '{"rules": [{"point": "x", "rate": 1}]}')
    with pytest.raises(FaultRuleError, match="unknown point"):
        Faults.from_environment()
