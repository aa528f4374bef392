"""AWS requests as the benchmark records them, and their split into critical path and the rest (pure).

A post's *critical path* is what stands between the HTTP request and the pushes reaching the
sockets: the api handler's requests up to and including its publish (whatever it does after it, no
push waits for), and the broadcaster's requests while it handles an event that api call published.
The publish is the request that hands the events on: a PutEvents, or the write that commits them
as event-log rows, whose stream records are what the broadcaster and the relay read.
*Delivery* is what AWS itself does to move an event from
the bus to a consumer (EventBridge's SendMessage into the rule's queue, the event source mapping's
ReceiveMessage and DeleteMessage): billed, but made by no code of ours. Everything else (turns, AI,
extensions, bookkeeping) is *rest*.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Category = Literal["critical", "rest", "delivery"]
CATEGORIES: tuple[Category, ...] = ("critical", "rest", "delivery")
DELIVERY = "delivery"
PUBLISH = ("events", "PutEvents")


@dataclass
class Call:
    """One AWS API request (botocore ``before-call``), or one the platform makes for us (delivery)."""

    function: str
    """The handler whose code made it, or ``delivery``."""
    invocation: int
    """Which handler invocation (0 for delivery)."""
    service: str
    operation: str
    trigger: str | None = None
    """The event id the invocation was handling; None for an HTTP or WebSocket request."""
    published: tuple[str, ...] = ()
    """Event ids a PutEvents carried, or that a write committed as event-log rows (the stream's records)."""
    rru: float = 0.0
    wru: float = 0.0
    table: str | None = None
    entries: int = 0
    """PutEvents entries (EventBridge bills each 64 KB entry as one event)."""
    notes: list[str] = field(default_factory=list)
    target: str | None = None
    """For delivery: the function the event was delivered to."""

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


def is_extension(function: str) -> bool:
    """Extensions' own functions (functions/ext_*): optional, so the core's figures leave them out."""
    return function.startswith("ext_")


def is_core(call: Call) -> bool:
    return not is_extension(call.target if call.function == DELIVERY and call.target else call.function)


def classify(
    calls: Sequence[Call], *, entry_function: str = "api", pusher: str = "broadcaster"
) -> list[Category]:
    """The category of each call, in order (see the module's docstring)."""
    categories: list[Category] = ["rest"] * len(calls)
    critical_events: set[str] = set()
    published_by: dict[int, bool] = {}  # entry invocation -> its PutEvents has happened
    for index, call in enumerate(calls):
        if call.function == DELIVERY:
            categories[index] = "delivery"
        elif (
            call.function == entry_function
            and call.trigger is None
            and not published_by.get(call.invocation, False)
        ):
            categories[index] = "critical"
            if call.published:
                published_by[call.invocation] = True
                critical_events.update(call.published)
    for index, call in enumerate(calls):
        if call.function == pusher and call.trigger is not None and call.trigger in critical_events:
            categories[index] = "critical"
    return categories


@dataclass(frozen=True)
class Summary:
    """Requests per operation (per repetition), per category and per function."""

    by_category: Mapping[Category, Mapping[str, float]]
    by_function: Mapping[str, Mapping[str, float]]
    rru: float
    wru: float
    events: float

    def count(self, category: Category) -> float:
        return sum(self.by_category.get(category, {}).values())

    @property
    def critical_path(self) -> float:
        return self.count("critical")

    @property
    def total(self) -> float:
        return sum(self.count(c) for c in CATEGORIES)

    def calls_of(self, operation: str) -> float:
        """Requests of one ``service.Operation`` in all categories."""
        return sum(ops.get(operation, 0.0) for ops in self.by_category.values())


def summarize(calls: Sequence[Call], categories: Sequence[Category], repetitions: int = 1) -> Summary:
    """Per-repetition counts (a run of ``repetitions`` identical operations divides by it)."""
    if len(calls) != len(categories):
        raise ValueError("one category per call")
    if repetitions < 1:
        raise ValueError("repetitions must be at least 1")
    by_category: dict[Category, Counter[str]] = defaultdict(Counter)
    by_function: dict[str, Counter[str]] = defaultdict(Counter)
    rru = wru = events = 0.0
    for call, category in zip(calls, categories, strict=True):
        by_category[category][call.name] += 1
        by_function[call.function][call.name] += 1
        rru += call.rru
        wru += call.wru
        events += call.entries
    return Summary(
        by_category={c: _per(by_category[c], repetitions) for c in CATEGORIES if c in by_category},
        by_function={f: _per(ops, repetitions) for f, ops in sorted(by_function.items())},
        rru=rru / repetitions,
        wru=wru / repetitions,
        events=events / repetitions,
    )


def _per(counts: Counter[str], repetitions: int) -> dict[str, float]:
    return {name: round(n / repetitions, 3) for name, n in sorted(counts.items())}


def excess_over_count(critical_path: float, allowed: float) -> dict[str, float]:
    """Critical-path requests beyond a count (the N+3 target names no operation)."""
    over = round(critical_path - allowed, 3)
    return {"requests": over} if over > 0 else {}


def excess_over(critical: Mapping[str, float], allowed: Mapping[str, float]) -> dict[str, float]:
    """Critical-path operations beyond an allowance (``{"dynamodb.TransactWriteItems": 1, ...}``)."""
    extra = {}
    for name, count in critical.items():
        over = count - allowed.get(name, 0.0)
        if over > 0:
            extra[name] = round(over, 3)
    return extra
