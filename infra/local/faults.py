"""Fault switches of the local stack: named points that fail at a seeded random rate, on demand.

A rule arms one point with a rate (the chance each opportunity fires) and an optional count (the
most times it may fire). ``GET/PUT/DELETE /local/faults`` and ``PARLEY_FAULTS`` (same JSON) drive
it. The points sit where AWS and the network fail: botocore hooks on the AWS clients, the
dispatcher, the management API, the in-process hook invoker and the local model provider, so the
code under test meets the failure it would meet in AWS, unchanged.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

POINTS: dict[str, str] = {
    "publish": "a PutEvents request fails as a whole (HTTP 500 or a read time-out; botocore retries it)",
    "publish.entry": "PutEvents answers 200 but refuses some entries (InternalFailure for each refused one)",
    "dynamodb.throttle": "a DynamoDB write is throttled (ProvisionedThroughputExceeded; botocore retries it)",
    "deliver.duplicate": "the dispatcher delivers a record a second time after its handler succeeded",
    "deliver.reorder": "the dispatcher shuffles a batch before handing it to the handler",
    "handler.crash": "a consumer dies after its side effects, before it acks: the whole batch comes back",
    "push.gone": "post_to_connection answers 410 Gone and the gateway closes that socket",
    "push.error": "post_to_connection answers 500 (botocore retries it)",
    "hook.timeout": "a moderation or turn hook never answers within its budget",
    "ai.error": "the local model fails mid-stream (after its first chunk)",
    "ai.throttle": "the local model refuses the request as throttled",
}
"""Every fault point and what it does when it fires."""


class FaultRuleError(ValueError):
    """A rule names no known point, or its rate or count is out of range."""


@dataclass
class Rule:
    point: str
    rate: float
    count: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"point": self.point, "rate": self.rate, "count": self.count}


def parse_rules(body: Any) -> list[Rule]:
    """Validate ``{"rules": [{"point", "rate", "count"?}], "seed"?}``; say exactly what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
        raise FaultRuleError(
            'expected {"rules": [{"point": "<name>", "rate": 0.0-1.0, "count": <optional>}]}'
        )
    unknown = set(body) - {"rules", "seed"}
    if unknown:
        raise FaultRuleError(f"unknown field(s): {', '.join(sorted(unknown))}")
    rules = []
    for n, raw in enumerate(body["rules"]):
        where = f"rules[{n}]"
        if not isinstance(raw, dict):
            raise FaultRuleError(f"{where} is not an object")
        extra = set(raw) - {"point", "rate", "count"}
        if extra:
            raise FaultRuleError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        point = raw.get("point")
        if point not in POINTS:
            raise FaultRuleError(f"{where}: unknown point {point!r}; known: {', '.join(POINTS)}")
        rate = raw.get("rate")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= float(rate) <= 1.0:
            raise FaultRuleError(f"{where}: rate must be a number from 0 to 1, got {rate!r}")
        count = raw.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise FaultRuleError(f"{where}: count must be a whole number >= 0 or absent, got {count!r}")
        rules.append(Rule(str(point), float(rate), count))
    return rules


def parse_seed(body: Any) -> int | None:
    seed = body.get("seed") if isinstance(body, dict) else None
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultRuleError(f"seed must be a whole number, got {seed!r}")
    return seed


class Faults:
    """The armed rules, one seeded random source, and per point how often it fired and recovered.

    ``recovered`` counts firings whose unit of work later went through (the same request on a
    botocore retry, the same event accepted by PutEvents or acked by its route). Points whose
    recovery is only visible to clients (a socket resumed, a fallback applied) are not counted here.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self._random = random.Random(self.seed)
        self._rules: dict[str, Rule] = {}
        self.fired: Counter[str] = Counter()
        self.recovered: Counter[str] = Counter()
        self._pending: dict[str, list[set[str]]] = {}

    def arm(self, rules: list[Rule], seed: int | None = None) -> None:
        with self._lock:
            if seed is not None:
                self.seed = seed
                self._random = random.Random(seed)
            self._rules = {r.point: Rule(r.point, r.rate, r.count) for r in rules}

    def clear(self) -> None:
        """Disarm every point; the counters stay, so a test can still read what fired."""
        with self._lock:
            self._rules = {}

    def armed(self, point: str) -> bool:
        return point in self._rules

    def fire(self, point: str, key: str | None = None, keys: list[str] | None = None) -> bool:
        """Whether ``point`` fires at this opportunity.

        ``key`` (or ``keys``) names the unit(s) of work it hit: the firing counts as recovered once
        every one of them went through (see ``succeeded``)."""
        rule = self._rules.get(point)
        if rule is None:
            return False
        with self._lock:
            if rule.count is not None and rule.count <= 0:
                return False
            if self._random.random() >= rule.rate:
                return False
            if rule.count is not None:
                rule.count -= 1
            self.fired[point] += 1
            hit = {k for k in ([key] if key else []) + (keys or []) if k}
            if hit:
                self._pending.setdefault(point, []).append(hit)
            return True

    def shuffled(self, items: list[Any]) -> list[Any]:
        """``items`` in a random order drawn from the seeded source."""
        with self._lock:
            out = list(items)
            self._random.shuffle(out)
            return out

    def succeeded(self, key: str, points: tuple[str, ...] = tuple(POINTS)) -> None:
        """The unit of work ``key`` went through: count it as recovered for every point it was hit by."""
        with self._lock:
            for point in points:
                pending = self._pending.get(point)
                if not pending:
                    continue
                for hit in pending:
                    hit.discard(key)
                still = [hit for hit in pending if hit]
                if len(still) < len(pending):
                    self.recovered[point] += len(pending) - len(still)
                    self._pending[point] = still

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "rules": [r.as_dict() for r in self._rules.values()],
                "points": [
                    {
                        "point": name,
                        "does": does,
                        "fired": self.fired[name],
                        "recovered": self.recovered[name],
                        "unrecovered": len(self._pending.get(name, ())),
                        "unrecovered_sample": sorted(
                            k for hit in self._pending.get(name, [])[:5] for k in sorted(hit)[:2]
                        ),
                    }
                    for name, does in POINTS.items()
                ],
            }

    @classmethod
    def from_environment(cls) -> Faults:
        """``PARLEY_FAULTS`` (the PUT body's JSON) and ``PARLEY_FAULTS_SEED`` at start."""
        raw = os.environ.get("PARLEY_FAULTS", "").strip()
        seed_text = os.environ.get("PARLEY_FAULTS_SEED", "").strip()
        body: Any = {"rules": []}
        if raw:
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise FaultRuleError(f"PARLEY_FAULTS is not JSON: {exc}") from exc
        rules = parse_rules(body)
        seed = parse_seed(body)
        if seed_text:
            try:
                seed = int(seed_text)
            except ValueError as exc:
                raise FaultRuleError(f"PARLEY_FAULTS_SEED must be a whole number, got {seed_text!r}") from exc
        faults = cls(seed)
        faults.arm(rules)
        return faults
