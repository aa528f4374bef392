"""Real client traffic and analytics at scale, on the same in-process moto as ``bench.aws_requests``.

- ``client_post_<N>``: posts as ``web/api.js`` sends them (a ``client_message_id`` and a
  200-character text) to a chat with N sockets, with what the all-in cost needs beyond the
  request counts: each invocation's billed milliseconds (the assumed latency of every AWS request
  it made plus its CPU time outside them, ``bench.cost.billed_ms``), the global secondary index
  write units of every item write (from the tables' own index definitions), and the bytes of the
  pushes, the HTTP response and the bus events.
- ``analytics_scale``: one UTC day of K active chats (each created, joined and posted to) through
  the analytics extension's real handler on the real extensions-table adapter, for several K: the
  largest item in any table and the analytics write and read units per event, which must not grow
  with K.

It reuses ``bench.aws_requests``' recorder and driver (API Gateway and the queues, played around
the real handlers), so both count requests the same way.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import cost as costs
from bench.aws_requests import ACCOUNT, PUSH, REGION, Driver, Recorder, Scenario, _moto
from bench.calls import DELIVERY, is_extension
from bench.dynamodb_units import index_write_units, item_size

TEXT_LENGTH = 200
MEASURED_CHATS = 40
"""The scale run counts the units of the day's last 40 chats, when the day's rows are fullest."""
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


# -- what the request counts leave out ----------------------------------------------------------------


@dataclass
class Meter:
    """Per invocation: CPU time, the AWS requests it waited on, index write units and bytes sent.

    Its botocore hooks run after ``Recorder``'s (registered later), so the CPU spent in both, and in
    moto answering, falls inside the request's window and is not billed to the function."""

    recorder: Recorder
    indexes: Mapping[str, tuple[list[dict[str, Any]], tuple[str, ...]]]
    cpu_ms: dict[int, float] = field(default_factory=dict)
    aws_cpu_ms: dict[int, float] = field(default_factory=dict)
    operations: dict[int, list[str]] = field(default_factory=dict)
    function_of: dict[int, str] = field(default_factory=dict)
    index_wru: dict[int, float] = field(default_factory=dict)
    push_bytes: list[int] = field(default_factory=list)
    event_bytes: list[int] = field(default_factory=list)
    http_response_bytes: list[int] = field(default_factory=list)

    def install(self) -> None:
        from botocore import handlers

        for event, hook in (
            ("before-parameter-build", self._start),
            ("before-call", self._before_call),
            ("after-call", self._after_call),
        ):
            if (event, hook) not in handlers.BUILTIN_HANDLERS:
                handlers.BUILTIN_HANDLERS.append((event, hook))

    @contextmanager
    def invoking(self, function: str, trigger: str | None = None) -> Iterator[None]:
        number = self.recorder.invocation + 1
        started = time.process_time()
        with Recorder.invoking(self.recorder, function, trigger):
            yield
        self.cpu_ms[number] = (time.process_time() - started) * 1000
        self.function_of[number] = function

    def reset(self) -> None:
        for found in (self.cpu_ms, self.aws_cpu_ms, self.operations, self.function_of, self.index_wru):
            found.clear()
        for sizes in (self.push_bytes, self.event_bytes, self.http_response_bytes):
            sizes.clear()

    # -- hooks -------------------------------------------------------------------------------------

    def _start(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self.recorder.function is not None:
            context["meter"] = (self.recorder.invocation, time.process_time(), params)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if "meter" not in context:
            return
        number, _, params = context["meter"]
        name = f"{model.service_model.service_name}.{model.name}"
        self.operations.setdefault(number, []).append(name)
        if name == PUSH:
            self.push_bytes.append(len(params.get("Data") or b""))
        elif name == "events.PutEvents":
            self.event_bytes += [len(json.dumps(e, default=str)) for e in params.get("Entries", [])]
        elif name.startswith("dynamodb.") and model.name in WRITES:
            context["meter_before"] = [(t, k, _item(t, k)) for t, k in _write_keys(model.name, params)]

    def _after_call(self, model: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "meter" not in context:
            return
        number, started, _ = context["meter"]
        if "meter_before" in context and "Error" not in parsed:
            units = 0.0
            for table, key, before in context["meter_before"]:
                indexes, keys = self.indexes.get(table, ([], ()))
                if indexes:
                    units += index_write_units(indexes, before, _item(table, key), keys)
            self.index_wru[number] = self.index_wru.get(number, 0.0) + units
        self.aws_cpu_ms[number] = self.aws_cpu_ms.get(number, 0.0) + (time.process_time() - started) * 1000

    # -- per function --------------------------------------------------------------------------------

    def billed(self, profiles: Mapping[str, costs.Profile], prices: Mapping[str, Any]) -> dict[str, float]:
        """Billed milliseconds per function, summed over its invocations."""
        found: dict[str, float] = {}
        for number, function in self.function_of.items():
            own_cpu = max(0.0, self.cpu_ms[number] - self.aws_cpu_ms.get(number, 0.0))
            memory = profiles.get(function, costs.Profile()).memory_mb
            ms = costs.billed_ms(self.operations.get(number, []), own_cpu, memory, prices)
            found[function] = found.get(function, 0.0) + ms
        return found

    def own_cpu(self) -> dict[str, float]:
        """CPU milliseconds per function outside its AWS requests, summed over its invocations: with
        the billed figure, what sizing its memory (README, cost assumptions) is read from."""
        found: dict[str, float] = {}
        for number, function in self.function_of.items():
            own = max(0.0, self.cpu_ms[number] - self.aws_cpu_ms.get(number, 0.0))
            found[function] = found.get(function, 0.0) + own
        return found

    def index_units(self, keep: Callable[[str], bool] = lambda _: True) -> float:
        return sum(u for n, u in self.index_wru.items() if keep(self.function_of.get(n, "")))


def _write_keys(operation: str, params: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(table, key) of every item a write request touches (condition checks change nothing)."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(params["TableName"], params.get("Key") or params["Item"])]
    if operation == "BatchWriteItem":
        return [
            (table, r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])
            for table, requests in params.get("RequestItems", {}).items()
            for r in requests
        ]
    found = []
    for entry in params.get("TransactItems", []):
        ((kind, body),) = entry.items()
        if kind != "ConditionCheck":
            found.append((body["TableName"], body.get("Key") or body["Item"]))
    return found


def _item(table: str, key_or_item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The item with this key as moto holds it now (the item's own key attributes pick it out)."""
    from moto.dynamodb.models import dynamodb_backends

    try:
        backend = dynamodb_backends[ACCOUNT][REGION]
        schema = backend.get_table(table).schema
        key = {k["AttributeName"]: key_or_item[k["AttributeName"]] for k in schema}
        found = backend.get_item(table, key)
    except Exception:
        return None
    return found.to_json()["Attributes"] if found is not None else None


def table_indexes() -> dict[str, tuple[list[dict[str, Any]], tuple[str, ...]]]:
    """Per table name: its global secondary indexes as the stack defines them (``tables.spec``:
    key attributes; the projection is ALL unless the definition names one, as CDK's default) and
    the table's own key attributes (part of every index entry)."""
    from parley.adapters.tables import TABLES, spec
    from parley.settings import settings

    found: dict[str, tuple[list[dict[str, Any]], tuple[str, ...]]] = {}
    for table in TABLES:
        definition = spec(table)
        indexes = [
            {
                "partition_key": index["partition_key"]["name"],
                "sort_key": (index.get("sort_key") or {}).get("name"),
                "projection": index.get("projection", "ALL"),
                "attributes": tuple(index.get("attributes", ())),
            }
            for index in definition["indexes"]
        ]
        keys = tuple(k["name"] for k in (definition["partition_key"], definition["sort_key"]) if k)
        found[getattr(settings(), table.setting)] = (indexes, keys)
    return found


def profiles() -> dict[str, costs.Profile]:
    """Each function's memory, log levels and tracing, as infra/specs.py deploys it."""
    from infra.specs import FUNCTIONS

    return {
        s.name: costs.Profile(
            memory_mb=s.memory_mb,
            system_log_level=getattr(s, "system_log_level", "INFO"),
            application_log_level=getattr(s, "application_log_level", "INFO"),
            traced=getattr(s, "traced", True),
            log_class=getattr(s, "log_class", "STANDARD"),
        )
        for s in FUNCTIONS
    }


# -- scenarios ------------------------------------------------------------------------------------------


def text_of(n: int) -> str:
    """A 200-character message, as people write them (not the 9-character bench text)."""
    return (
        f"message {n}: "
        + ("the quick brown fox jumps over the lazy dog " * 5)[: TEXT_LENGTH - 12 - len(str(n))]
    )


def client_posts(driver: Driver, meter: Meter, sockets: int, repetitions: int) -> Scenario:
    """``repetitions`` posts as the web client sends them, to a chat with ``sockets`` open sockets."""
    from tests.support.api import User

    users = [User(f"client-{sockets}-{i}", f"Client{i}") for i in range(sockets)]
    chat_id = driver.api.create_chat(users[0], title=f"client N={sockets}")["chat_id"]
    for user in users[1:]:
        driver.api.post(f"/chats/{chat_id}/members", user)
    origin, *_ = [driver.open_socket(user, chat_id) for user in users]
    driver.pump()

    def post(n: int) -> None:
        # the web client names its socket: the push skips it, the answer is its copy
        body = {"text": text_of(n), "client_message_id": str(uuid.uuid4()), "origin_connection_id": origin}
        with driver.recorder.invoking("api"):
            response = driver.api.call("POST", f"/chats/{chat_id}/messages", users[0], body=body)
        if response.status >= 300:
            raise RuntimeError(f"post answered {response.status}: {response.text}")
        meter.http_response_bytes.append(len(response.text.encode()))

    post(-1)  # warms every handler up: not measured
    driver.pump()
    meter.reset()
    return driver.measure(f"client_post_{sockets}", repetitions, post)


def cost_inputs(
    scenario: Scenario, meter: Meter, profiles_: Mapping[str, costs.Profile], prices: Mapping[str, Any]
) -> dict[str, Any]:
    """The scenario as bench.cost reads it, with billed milliseconds, index units and bytes."""
    full = {**scenario.as_dict()}
    billed, cpu = meter.billed(profiles_, prices), meter.own_cpu()
    reps = scenario.repetitions
    full["invocations"] = {
        f: {
            **figures,
            "billed_ms": round(billed.get(f, 0.0) / reps, 2),
            "cpu_ms": round(cpu.get(f, 0.0) / reps, 2),
        }
        for f, figures in full["invocations"].items()
    }
    full["dynamodb_units"] = {**full["dynamodb_units"], "index_wru": round(meter.index_units() / reps, 3)}
    full["bytes"] = {
        name: round(sum(sizes) / len(sizes), 1)
        for name, sizes in (
            ("push", meter.push_bytes),
            ("event", meter.event_bytes),
            ("http_response", meter.http_response_bytes),
        )
        if sizes
    }
    core = scenario.core(("parley-extensions",)).cost_inputs()
    core["invocations"] = {f: full["invocations"][f] for f in core["invocations"]}
    core["dynamodb_units"] = {
        **core["dynamodb_units"],
        "index_wru": round(meter.index_units(lambda f: not is_extension(f)) / reps, 3),
    }
    core["bytes"] = full["bytes"]
    full["core"] = core
    return full


# -- analytics at scale -----------------------------------------------------------------------------------


def _chat(chat_id: str, created: datetime) -> Any:
    from parley.domain.model import Chat, ChatSettings, Install

    install = Install(extension_id="analytics", version="1.0.0", installed_by="parley", installed_at=created)
    return Chat(
        chat_id=chat_id,
        title="scale",
        turn_mode="free",
        settings=ChatSettings(),
        created_by="u0",
        created_at=created,
        extensions={"analytics": install},
    )


def _day_of_events(chat_id: str, day: datetime, messages: int) -> list[dict[str, Any]]:
    """A chat's day: created with two members, then ``messages`` posts from both (bus events)."""
    from parley.catalog import (
        SYSTEM,
        ChatCreated,
        MessageStored,
        MessageView,
        ParticipantView,
        new_event,
    )

    people = [ParticipantView(id=f"u{i}", name=f"User {i}", kind="human", role="member") for i in range(2)]
    data: list[Any] = [
        ChatCreated(title="scale", turn_mode="free", created_by="u0", participants=tuple(people), settings={})
    ]
    data += [
        MessageStored(
            message=MessageView(
                message_id=f"m{n}",
                chat_id=chat_id,
                sequence=n + 1,
                sender_id=people[n % 2].id,
                sender_name=people[n % 2].name,
                sender_kind="human",
                text=text_of(n),
                created_at=day,
            ),
            turn_mode="free",
            turn_number=0,
        )
        for n in range(messages)
    ]
    events = []
    for sequence, item in enumerate(data, start=1):
        at = day + timedelta(seconds=sequence)
        envelope = new_event(
            item, chat_id=chat_id, actor=SYSTEM, occurred_at=at, extensions=("analytics",)
        ).with_sequence(sequence)
        events.append(
            {"source": "parley.core", "detail-type": item.event_type, "detail": envelope.to_detail()}
        )
    return events


def largest_items() -> dict[str, dict[str, Any]]:
    """Per table of moto's: its largest item's size and key."""
    from moto.dynamodb.models import dynamodb_backends

    found: dict[str, dict[str, Any]] = {}
    for name, table in dynamodb_backends[ACCOUNT][REGION].tables.items():
        for item in table.all_items():
            attributes = item.to_json()["Attributes"]
            size = item_size(attributes)
            if size > found.get(name, {}).get("bytes", 0):
                key = {
                    k["AttributeName"]: next(iter(attributes[k["AttributeName"]].values()))
                    for k in table.schema
                }
                found[name] = {"bytes": size, "key": key}
    return found


def _log_the_day(chats: list[str], day: datetime, messages: int) -> None:
    """The chats' logs and day items as the api commits them (the summary folds messages from them)."""
    from parley.adapters.chat_items import active_on, day_key
    from parley.adapters.tables import ChatRecord, EventRecord

    with EventRecord.batch_write() as rows, ChatRecord.batch_write() as days:
        for chat_id in chats:
            for event in _day_of_events(chat_id, day, messages):
                meta = event["detail"]["metadata"]
                rows.save(
                    EventRecord(
                        chat_id,
                        meta["sequence"],
                        event_id=meta["event_id"],
                        event_type=meta["event_type"],
                        detail=json.dumps(event["detail"]),
                        occurred_at=meta["occurred_at"],
                    )
                )
            first = 2  # the first MessageStored follows ChatCreated
            day_item = ChatRecord(
                day_key(chat_id, day.date().isoformat()), state="", updated_at=day.isoformat()
            )
            day_item.active_on = active_on(day.date().isoformat(), chat_id)
            day_item.active_chat = f"{chat_id}#{first}"
            days.save(day_item)


READ_CONCURRENCY = 8
"""The summary's reads in flight (``AnalyticsService``'s default)."""


SUMMARY_MAX_CHATS = 400
"""The largest day the bench times the operators' summary over (its first read is linear in the chats)."""


def summary_at_scale(driver: Driver, chats: list[str], day: datetime, messages: int) -> dict[str, Any]:
    """GET /analytics/summary's service over the day of ``chats`` active chats, the day after (final):
    the first read folds every chat's day from its log and caches it, the next reads the cache."""
    from parley.adapters.dynamodb import ChatRepository
    from parley.adapters.extensions import ExtensionState
    from parley.services.analytics import AnalyticsService

    _log_the_day(chats, day, messages)
    service = AnalyticsService(
        None,  # type: ignore[arg-type]  # the summary reads no chat
        ExtensionState,
        ChatRepository(REGION),
        clock=lambda: day + timedelta(days=1),
        read_concurrency=READ_CONCURRENCY,
    )
    found: dict[str, Any] = {}
    for name in ("first", "cached"):
        driver.recorder.take()
        started = time.perf_counter()
        with driver.recorder.invoking("api", "GET /analytics/summary"):
            report = service.summary(day.date(), day.date())
        elapsed = time.perf_counter() - started
        calls, _ = driver.recorder.take()
        if report.totals.messages != len(chats) * messages:
            raise RuntimeError(f"the summary counted {report.totals.messages} messages")
        latency = costs.load_prices()["assumptions"]["all_in"]["duration"]["latency_ms"]
        waited = sum(float(latency.get(f"{c.service}.{c.operation}", latency["default"])) for c in calls)
        found[name] = {
            "moto_seconds": round(elapsed, 2),
            # AWS's assumed request latencies (bench/prices.json), READ_CONCURRENCY requests in flight
            "aws_seconds_estimate": round(waited / READ_CONCURRENCY / 1000, 2),
            "requests": len(calls),
            "rru": round(sum(c.rru for c in calls), 1),
            "wru": round(sum(c.wru for c in calls), 1),
        }
    return found


def analytics_scale(
    driver: Driver, chat_counts: tuple[int, ...], messages: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Per chat count K: one day of K active chats through the analytics handler; the largest item
    afterwards, and the extension's DynamoDB units and dollars per event over the day's last
    ``MEASURED_CHATS`` chats (the rest are written unmeasured, which keeps 4,000 chats quick)."""
    from parley.adapters.extensions import ExtensionState
    from parley.extensions.builtin.analytics import extension as analytics
    from parley.extensions.sdk import Runtime

    prices = costs.load_prices()
    found: dict[str, Any] = {}
    deployed = analytics._runtime
    for offset, count in enumerate(chat_counts):
        day = datetime(2026, 6, 1 + offset, 8, tzinfo=UTC)
        chats = {str(uuid.uuid5(uuid.NAMESPACE_URL, f"scale-{count}-{n}")): n for n in range(count)}
        runtime = Runtime(
            load_chat=lambda chat_id, day=day: _chat(chat_id, day),  # type: ignore[misc]
            registry=dict,
            publish=lambda envelopes: None,
            state=lambda extension_id, chat_id: ExtensionState(extension_id, chat_id),
        )
        analytics.use(runtime)
        driver.recorder.take()
        events = 0
        started = time.perf_counter()
        try:
            for n, chat_id in enumerate(chats):
                measured = n >= count - MEASURED_CHATS
                for event in _day_of_events(chat_id, day, messages):
                    if not measured:  # the day so far: written, not counted (the hooks stay idle)
                        analytics.deliver(event)
                        continue
                    with driver.recorder.invoking("ext_analytics", event["detail"]["metadata"]["event_id"]):
                        analytics.deliver(event)
                    events += 1
        finally:
            analytics._runtime = deployed
        calls, _ = driver.recorder.take()
        wru = sum(c.wru for c in calls if c.function != DELIVERY)
        rru = sum(c.rru for c in calls if c.function != DELIVERY)
        usd = wru * costs.unit_price(prices, "dynamodb_write_request_unit") + rru * costs.unit_price(
            prices, "dynamodb_read_request_unit"
        )
        found[str(count)] = {
            "chats": count,
            "measured_events": events,
            "messages_per_chat": messages,
            "wru_per_event": round(wru / events, 3),
            "rru_per_event": round(rru / events, 3),
            "analytics_dynamodb_usd_per_million_events": round(usd / events * costs.MILLION, 3),
        }
        by_table = largest_items()
        table = max(by_table, key=lambda t: by_table[t]["bytes"])
        found[str(count)]["largest_item"] = {"table": table, **by_table[table]}
        found[str(count)]["largest_item_by_table"] = {t: e["bytes"] for t, e in sorted(by_table.items())}
        if count <= SUMMARY_MAX_CHATS:
            found[str(count)]["summary"] = summary_at_scale(driver, list(chats), day, messages)
        else:  # one log Query and one cache write per chat: linear, and hours on moto at 4,000
            found[str(count)]["summary"] = {"skipped": f"over {SUMMARY_MAX_CHATS} chats: linear in the chats"}
        progress(
            f"  scale: {count} chats ({events} events measured) in {time.perf_counter() - started:.0f} s: "
            f"{found[str(count)]['wru_per_event']} WRU/event, largest item "
            f"{found[str(count)]['largest_item']['bytes']:,} B; summary {found[str(count)]['summary']}"
        )
    return found


def run(
    *,
    sockets: tuple[int, ...] = (2, 10),
    repetitions: int = 5,
    scale: tuple[int, ...] = (40, 4000),
    scale_messages: int = 1,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Client-traffic posts and the analytics scale run; returns their section of results.json."""
    prices = costs.load_prices()
    deployed = profiles()
    recorder = Recorder()
    recorder.install()
    # before any client exists: botocore gives its built-in handlers to sessions created afterwards
    meter = Meter(recorder, {})
    meter.install()
    recorder.invoking = meter.invoking  # type: ignore[method-assign]
    with _moto() as provisioned:
        meter.indexes = table_indexes()
        driver = Driver(recorder, provisioned)
        scenarios: dict[str, Any] = {}
        for n in sockets:
            scenario = client_posts(driver, meter, n, repetitions)
            if scenario.summary.calls_of(PUSH) < n - 1:  # the poster's own socket is skipped
                raise RuntimeError(f"a client post with {n} sockets made too few pushes")
            scenarios[f"client_post_{n}"] = cost_inputs(scenario, meter, deployed, prices)
            progress(
                f"  traffic: client post with {n} sockets: {scenario.summary.critical_path:g} on the "
                f"critical path, {scenario.summary.total:g} in all"
            )
        scaled = analytics_scale(driver, scale, scale_messages, progress) if scale else {}
    return {
        "method": (
            "as bench.aws_requests, posting as web/api.js does (client_message_id, 200-character texts); "
            "billed ms = assumed latency of each AWS request + CPU time outside them (bench/prices.json); "
            "index units from the tables' index definitions and each write's before/after images"
        ),
        "scenarios": scenarios,
        "analytics_scale": scaled,
        "profiles": {name: vars(p) for name, p in deployed.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Run in a process of its own (``python -m bench.traffic``), like ``bench.aws_requests``."""
    import argparse

    parser = argparse.ArgumentParser(description=run.__doc__)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument(
        "--scale", default="40,4000", help="chat counts of the analytics scale run ('' skips it)"
    )
    parser.add_argument("--scale-messages", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    scale = tuple(int(n) for n in args.scale.split(",") if n)
    section = run(
        repetitions=args.posts,
        scale=scale,
        scale_messages=args.scale_messages,
        progress=lambda line: print(line, flush=True),
    )
    args.out.write_text(json.dumps(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
