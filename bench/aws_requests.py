"""AWS requests per operation: the real handlers on moto (in-process), every request counted.

Every botocore session gets two hooks (``before-call`` and ``after-call``, on all services) through
botocore's built-in handler list, so the boto3 clients, PynamoDB's own sessions and the pusher's
management API client are all seen without touching handler code. The driver plays API Gateway
(HTTP and WebSocket events into the handlers) and the event source mapping (each queued event into
its consumer, one per invocation, as at low traffic); it knows which handler runs, so each request
is attributed to it, then ``bench.calls.classify`` splits critical path from the rest.

DynamoDB capacity is estimated from item sizes (``bench.dynamodb_units``): moto does not report
ConsumedCapacity reliably. Written items are looked up in moto's tables before and after a write
(DynamoDB bills the larger image); reads are sized from what they return.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.calls import (
    DELIVERY,
    Call,
    Category,
    Summary,
    classify,
    excess_over_count,
    is_core,
    is_extension,
    summarize,
)
from bench.dynamodb_units import item_size, read_units, read_units_of, write_units

REGION = "us-east-1"
ACCOUNT = "123456789012"
MANAGEMENT_URL = f"https://parley-bench.execute-api.{REGION}.amazonaws.com/local"
"""An endpoint moto serves as API Gateway's management API (it keeps what each socket got)."""
WEBSOCKET_URL = f"wss://parley-bench.execute-api.{REGION}.amazonaws.com/local"
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "parley-bench",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "PARLEY_WEBSOCKET_MANAGEMENT_URL": MANAGEMENT_URL,
    "PARLEY_WEBSOCKET_URL": WEBSOCKET_URL,
    "PARLEY_AI_PROVIDER": "local",
    "PARLEY_HOOK_INVOKER": "inprocess",
}
ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}
EVENTS_TABLE = "parley-events"
# The target's allowance for a post's critical path beyond its pushes (N+3), whatever the requests are
ALLOWED_BESIDES_PUSHES = 3.0
PUSH = "apigatewaymanagementapi.PostToConnection"


@dataclass
class Invocation:
    function: str
    trigger: str | None
    duration_ms: float


@dataclass
class Recorder:
    """Counts every AWS request botocore makes while ``function`` is set (see ``invoking``)."""

    calls: list[Call] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    function: str | None = None
    trigger: str | None = None
    invocation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> None:
        """Hook every botocore session created from now on (and boto3's default one, if any)."""
        import boto3
        from botocore import handlers

        hooks = (
            ("before-parameter-build", self._parameters),
            ("before-call", self._before_call),
            ("after-call", self._after_call),
        )
        for event, hook in hooks:
            if (event, hook) not in handlers.BUILTIN_HANDLERS:
                handlers.BUILTIN_HANDLERS.append((event, hook))
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION.events.register(event, hook)

    def take(self) -> tuple[list[Call], list[Invocation]]:
        with self._lock:
            calls, self.calls = self.calls, []
            invocations, self.invocations = self.invocations, []
        return calls, invocations

    @contextmanager
    def invoking(self, function: str, trigger: str | None = None) -> Iterator[None]:
        self.invocation += 1
        self.function, self.trigger = function, trigger
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.function, self.trigger = None, None
            with self._lock:
                self.invocations.append(Invocation(function, trigger, elapsed))

    def platform(self, operation: str, target: str, service: str = "sqs") -> None:
        """A request AWS makes for us (delivery to ``target``), which no botocore hook sees."""
        with self._lock:
            self.calls.append(Call(DELIVERY, 0, service, operation, target=target))

    # -- hooks -------------------------------------------------------------------------------------

    def _parameters(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        """The request's parameters as the caller gave them (before-call sees them serialized)."""
        if self.function is not None:
            context["bench_params"] = params

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        function = self.function
        if function is None:
            return
        params: Mapping[str, Any] = context.get("bench_params") or {}
        service = model.service_model.service_name
        call = Call(function, self.invocation, service, model.name, trigger=self.trigger)
        if (service, model.name) == ("events", "PutEvents"):
            entries = params.get("Entries", [])
            call.entries = len(entries)
            call.published = tuple(_event_id(e) for e in entries)
        elif service == "dynamodb":
            call.table = params.get("TableName")
            call.published = _committed_events(model.name, params)
            try:
                context["bench_before"] = _before_images(model.name, params)
            except Exception as exc:  # an estimate must never break the run it measures
                call.notes.append(f"units not estimated: {exc!r}")
        context["bench_call"] = call
        with self._lock:
            self.calls.append(call)

    def _after_call(self, model: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        call: Call | None = context.get("bench_call")
        if call is None or call.service != "dynamodb" or "bench_before" not in context:
            return
        try:
            call.rru, call.wru = _units(model.name, context["bench_params"], parsed, context["bench_before"])
        except Exception as exc:  # an estimate must never break the run it measures
            call.notes.append(f"units not estimated: {exc!r}")


def _committed_events(operation: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """Event ids a write commits as event-log rows: each is a record on the events table's stream
    (read as every reader reads a row, ``parley.adapters.event_rows``)."""
    from parley.adapters.event_rows import EventRowError, image_detail

    try:
        return tuple(
            str(json.loads(image_detail(item))["metadata"]["event_id"])
            for kind, table, item in _write_targets(operation, params)
            if kind == "Put" and table == EVENTS_TABLE
        )
    except (KeyError, TypeError, ValueError, EventRowError):
        return ()


def _event_id(entry: Mapping[str, Any]) -> str:
    try:
        return str(json.loads(entry.get("Detail") or "{}")["metadata"]["event_id"])
    except (KeyError, TypeError, ValueError):
        return ""


# -- DynamoDB capacity, from moto's tables ----------------------------------------------------------


def _stored(table: str, key_or_item: Mapping[str, Any]) -> int:
    """The size of the item with this key as moto holds it now (0 when there is none)."""
    from moto.dynamodb.models import dynamodb_backends

    try:
        found = dynamodb_backends[ACCOUNT][REGION].get_item(table, dict(key_or_item))
    except Exception:
        return 0
    return item_size(found.to_json()["Attributes"]) if found is not None else 0


def _write_targets(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(kind, table, key or item) of every item a write request touches."""
    if operation in ("PutItem",):
        return [("Put", params["TableName"], params["Item"])]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(operation.removesuffix("Item"), params["TableName"], params["Key"])]
    if operation == "BatchWriteItem":
        found: list[tuple[str, str, Mapping[str, Any]]] = []
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    found.append(("Put", table, request["PutRequest"]["Item"]))
                else:
                    found.append(("Delete", table, request["DeleteRequest"]["Key"]))
        return found
    if operation == "TransactWriteItems":
        found = []
        for entry in params.get("TransactItems", []):
            ((kind, body),) = entry.items()
            found.append((kind, body["TableName"], body.get("Item") or body["Key"]))
        return found
    return []


def _before_images(operation: str, params: Mapping[str, Any]) -> list[int]:
    return [_stored(table, key) for _, table, key in _write_targets(operation, params)]


def _units(
    operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any], before: list[int]
) -> tuple[float, float]:
    """(RRU, WRU) of one DynamoDB request."""
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        return read_units(item_size(parsed.get("Item")), consistent=consistent), 0.0
    if operation in ("Query", "Scan"):
        return read_units_of(parsed.get("Items", []), consistent=consistent), 0.0
    if operation == "BatchGetItem":
        rru = 0.0
        for table, items in parsed.get("Responses", {}).items():
            strong = bool(params.get("RequestItems", {}).get(table, {}).get("ConsistentRead"))
            rru += sum(read_units(item_size(i), consistent=strong) for i in items)
        return rru, 0.0
    if operation == "TransactGetItems":
        rru = sum(
            read_units(item_size(r.get("Item")), consistent=True, transactional=True)
            for r in parsed.get("Responses", [])
        )
        return rru, 0.0
    targets = _write_targets(operation, params)
    if not targets:
        return 0.0, 0.0  # control plane (DescribeTable, ...): not billed per request
    transactional = operation == "TransactWriteItems"
    wru = 0.0
    for (kind, table, key), size_before in zip(targets, before, strict=True):
        if kind == "Put":
            size_after = item_size(key)
        elif kind == "Update":
            size_after = _stored(table, key)
        else:  # Delete, ConditionCheck: billed on the item as it was
            size_after = 0
        wru += write_units(size_before, size_after, transactional=transactional)
    return 0.0, wru


# -- the driver ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One measured operation: its requests, split and summed per repetition."""

    name: str
    repetitions: int
    calls: list[Call]
    categories: list[Category]
    invocations: list[Invocation]
    stored_by_table: dict[str, float] = field(default_factory=dict)

    @property
    def stored_bytes(self) -> float:
        return sum(self.stored_by_table.values())

    def core(self, extension_tables: tuple[str, ...] = ()) -> Scenario:
        """The same operation without the extensions' functions, their deliveries and their tables."""
        kept = [(c, k) for c, k in zip(self.calls, self.categories, strict=True) if is_core(c)]
        return Scenario(
            f"{self.name} (core)",
            self.repetitions,
            [c for c, _ in kept],
            [k for _, k in kept],
            [i for i in self.invocations if not is_extension(i.function)],
            {t: b for t, b in self.stored_by_table.items() if t not in extension_tables},
        )

    @property
    def summary(self) -> Summary:
        return summarize(self.calls, self.categories, self.repetitions)

    def durations_ms(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for invocation in self.invocations:
            found.setdefault(invocation.function, []).append(invocation.duration_ms)
        return found

    def units_by_operation(self) -> dict[str, dict[str, float]]:
        """RRU and WRU per function and DynamoDB operation (and table), per repetition."""
        found: dict[str, dict[str, float]] = {}
        for call in self.calls:
            if call.service != "dynamodb" or not (call.rru or call.wru):
                continue
            key = f"{call.function} {call.operation}" + (f" {call.table}" if call.table else "")
            entry = found.setdefault(key, {"rru": 0.0, "wru": 0.0})
            entry["rru"] += call.rru / self.repetitions
            entry["wru"] += call.wru / self.repetitions
        return {k: {u: round(v, 3) for u, v in units.items()} for k, units in sorted(found.items())}

    def as_dict(self) -> dict[str, Any]:
        summary = self.summary
        per_function: dict[str, dict[str, float]] = {}
        for function, durations in self.durations_ms().items():
            ordered = sorted(durations)
            per_function[function] = {
                "invocations": round(len(durations) / self.repetitions, 3),
                "median_ms": round(ordered[len(ordered) // 2], 2),
                "total_ms": round(sum(durations) / self.repetitions, 2),
            }
        return {
            "repetitions": self.repetitions,
            "critical_path": summary.critical_path,
            "total": summary.total,
            "by_category": {k: dict(v) for k, v in summary.by_category.items()},
            "by_function": {k: dict(v) for k, v in summary.by_function.items()},
            "excess_over_target": excess_over_count(summary.critical_path, _allowance(summary)),
            "dynamodb_units": {
                "rru": round(summary.rru, 3),
                "wru": round(summary.wru, 3),
                "by_operation": self.units_by_operation(),
            },
            "eventbridge_entries": summary.events,
            "invocations": per_function,
            "stored_bytes": round(self.stored_bytes, 1),
            "stored_bytes_by_table": {t: round(b, 1) for t, b in sorted(self.stored_by_table.items())},
            "notes": sorted({n for c in self.calls for n in c.notes}),
        }

    def cost_inputs(self) -> dict[str, Any]:
        """What bench.cost needs, and no more (for the core-only view)."""
        full = self.as_dict()
        keys = ("critical_path", "total", "by_category", "dynamodb_units", "eventbridge_entries")
        return {k: full[k] for k in (*keys, "invocations", "stored_bytes")}


def _allowance(summary: Summary) -> float:
    """The N+3 target's allowance: three requests, plus one per push made."""
    return ALLOWED_BESIDES_PUSHES + summary.by_category.get("critical", {}).get(PUSH, 0.0)


def _routes() -> list[Any]:
    from parley import topology

    return list(topology.all_routes())


def _stored_bytes() -> dict[str, int]:
    """Per table, every item's size in moto (storage is billed on it, plus 100 bytes per item)."""
    from moto.dynamodb.models import dynamodb_backends

    return {
        name: sum(item_size(item.to_json()["Attributes"]) + 100 for item in table.all_items())
        for name, table in dynamodb_backends[ACCOUNT][REGION].tables.items()
    }


class Driver:
    """API Gateway and the event source mappings, played in-process around the real handlers."""

    def __init__(self, recorder: Recorder, provisioned: Any) -> None:
        import boto3

        from infra.local.functions import load_handler
        from tests.support.api import Api

        self.recorder = recorder
        self.provisioned = provisioned
        self.api = Api()
        self.sqs = boto3.client("sqs", region_name=REGION)
        from infra.local.streams import StreamReader, StreamRoute, streams_client

        self.routes = []
        self.streams: list[tuple[StreamRoute, Any]] = []
        self.skipped: list[str] = []
        for route in _routes():
            try:
                handler = load_handler(route.function)
            except (FileNotFoundError, ImportError) as exc:
                self.skipped.append(f"{route.name}: {exc}")
                continue
            url = provisioned.queue_urls.get(route.name)
            if url:
                self.routes.append((route, url, handler))
            elif route.delivery == "stream":
                arn = provisioned.stream_arn
                reader = StreamReader(streams_client(REGION), arn)
                stream = StreamRoute(route, reader, arn, REGION, provisioned.dlq_urls[route.name], self.sqs)
                self.streams.append((stream, handler))
        self._connection = 0

    # -- clients -------------------------------------------------------------------------------------

    def call(self, function: str, method: str, path: str, user: Any, body: Any = None) -> Any:
        with self.recorder.invoking(function):
            response = self.api.call(method, path, user, body=body)
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {response.text}")
        return response.json

    def open_socket(self, user: Any, chat_id: str, record: bool = False) -> str:
        from infra.local.dispatch import LambdaContext
        from infra.local.events import authorizer_event, websocket_event
        from infra.local.functions import load_handler

        self._connection += 1
        connection_id = f"bench-{self._connection}"
        ticket = self.api.post("/realtime/tickets", user).json["ticket"]
        policy = load_handler("ws_authorizer")(
            authorizer_event(connection_id, query={"ticket": ticket}, headers={"host": "parley-bench"}),
            LambdaContext.for_function("ws_authorizer"),
        )
        realtime = load_handler("realtime")
        realtime(
            websocket_event("$connect", connection_id, authorizer=policy["context"]),
            LambdaContext.for_function("realtime"),
        )
        body = json.dumps({"action": "subscribe", "chat_id": chat_id})
        reply = realtime(
            websocket_event("subscribe", connection_id, body=body), LambdaContext.for_function("realtime")
        )
        if json.loads(reply["body"])["type"] != "Subscribed":
            raise RuntimeError(f"subscribe failed: {reply}")
        return connection_id

    # -- the bus -------------------------------------------------------------------------------------

    def _pump_streams(self) -> int:
        """Hand each stream route its new records one per invocation (GetRecords by Lambda's event
        source mapping is free and made by AWS: not recorded)."""
        from infra.local.dispatch import LambdaContext
        from infra.local.streams import event_id_of

        delivered = 0
        for stream, handler in self.streams:
            stream.poll()
            for record in list(stream.pending):
                with self.recorder.invoking(stream.route.function, event_id_of(record)):
                    result = handler({"Records": [record]}, LambdaContext.for_function(stream.route.function))
                if (result or {}).get("batchItemFailures"):
                    raise RuntimeError(f"{stream.route.function} failed on {event_id_of(record)}: {result}")
                stream.pending.remove(record)
                delivered += 1
        return delivered

    def pump(self, max_rounds: int = 200) -> int:
        """Deliver stream records and queued events one per invocation until nothing is left."""
        from infra.local.dispatch import LambdaContext, sqs_event

        delivered = 0
        for _ in range(max_rounds):
            progress = self._pump_streams()
            for route, url, handler in self.routes:
                messages = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0
                ).get("Messages", [])
                for message in messages:
                    event_id = _event_id({"Detail": json.dumps(json.loads(message["Body"]).get("detail"))})
                    # EventBridge puts the event on the rule's queue; the event source mapping takes
                    # it off and deletes it once the function succeeded
                    for operation in ("SendMessage", "ReceiveMessage", "DeleteMessage"):
                        self.recorder.platform(operation, route.function)
                    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{route.queue_name}"
                    with self.recorder.invoking(route.function, event_id):
                        result = handler(
                            sqs_event([message], arn, REGION), LambdaContext.for_function(route.function)
                        )
                    if (result or {}).get("batchItemFailures"):
                        raise RuntimeError(f"{route.function} failed on {event_id}: {result}")
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    progress += 1
            delivered += progress
            if not progress:
                return delivered
        raise RuntimeError("the bus did not settle")

    def measure(self, name: str, repetitions: int, step: Callable[[int], None]) -> Scenario:
        self.recorder.take()
        stored_before = _stored_bytes()
        for n in range(repetitions):
            step(n)
            self.pump()
        stored_after = _stored_bytes()
        stored = {t: (b - stored_before.get(t, 0)) / repetitions for t, b in stored_after.items()}
        calls, invocations = self.recorder.take()
        return Scenario(
            name, repetitions, calls, classify(calls), invocations, {t: b for t, b in stored.items() if b}
        )


@contextmanager
def _moto() -> Iterator[Any]:
    # the environment first: Powertools reads its settings when parley.observability is imported
    saved = {k: os.environ.get(k) for k in [*ENVIRONMENT, "AWS_ENDPOINT_URL", "AWS_PROFILE"]}
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(ENVIRONMENT)
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    from moto import mock_aws

    from infra.local import moto_fixes
    from infra.local.provision import provision
    from parley import root
    from parley.settings import settings

    root.reset()
    try:
        moto_fixes.apply_all()
        with mock_aws():
            yield provision(settings())
    finally:
        root.reset()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(
    *, sockets: tuple[int, ...] = (2, 10), repetitions: int = 5, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Post, AI reply and join scenarios; returns the ``requests`` section of results.json."""
    recorder = Recorder()
    recorder.install()
    scenarios: dict[str, Scenario] = {}
    with _moto() as provisioned:
        from parley.settings import settings
        from tests.support.api import User

        extension_tables = tuple(
            getattr(settings(), name) for name in ("extensions_table",) if hasattr(settings(), name)
        )

        driver = Driver(recorder, provisioned)
        for skipped in driver.skipped:
            progress(f"  requests: route skipped ({skipped})")
        for n in sockets:
            users = [User(f"user-{n}-{i}", f"User{i}") for i in range(n)]
            # default settings: a chat item's size (and so its write units) is what a real chat has
            chat_id = driver.api.create_chat(users[0], title=f"post N={n}")["chat_id"]
            for user in users[1:]:
                driver.api.post(f"/chats/{chat_id}/members", user)
            origin, *_ = [driver.open_socket(user, chat_id) for user in users]
            driver.pump()
            poster = users[0]
            # a first post warms every handler up (clients, table metadata): not measured
            driver.call("api", "POST", f"/chats/{chat_id}/messages", poster, {"text": "warm-up"})
            driver.pump()
            scenario = driver.measure(
                f"post_{n}",
                repetitions,
                # as the web client posts: with a client_message_id (idempotent retries), naming its
                # socket (which the push then skips: the answer is its copy)
                lambda i, chat_id=chat_id, poster=poster, n=n, origin=origin: driver.call(  # type: ignore[misc]
                    "api",
                    "POST",
                    f"/chats/{chat_id}/messages",
                    poster,
                    {
                        "text": f"message {i}",
                        "client_message_id": f"bench-{n}-{i}",
                        "origin_connection_id": origin,
                    },
                ),
            )
            pushes = scenario.summary.calls_of(PUSH)
            if pushes < n - 1:
                raise RuntimeError(f"a post with {n} sockets made only {pushes} pushes")
            scenarios[f"post_{n}"] = scenario
            progress(
                f"  requests: post with {n} sockets: {scenario.summary.critical_path:g} on the critical "
                f"path, {scenario.summary.total:g} in all"
            )
        # an AI reply: a person mentions the AI participant of a free chat, two sockets watch
        people = [User("user-ai-0", "Ann"), User("user-ai-1", "Ben")]
        chat_id = driver.api.create_chat(people[0], title="ai", ai_participants=[ORACLE])["chat_id"]
        driver.api.post(f"/chats/{chat_id}/members", people[1])
        for user in people:
            driver.open_socket(user, chat_id)
        driver.pump()
        scenarios["ai_reply"] = driver.measure(
            "ai_reply",
            2,
            lambda i: driver.call(
                "api", "POST", f"/chats/{chat_id}/messages", people[0], {"text": f"@Oracle riddle {i}?"}
            ),
        )
        progress(f"  requests: AI reply (with its mention): {scenarios['ai_reply'].summary.total:g} in all")
        # a join: a chat of two with their sockets open, then one more member
        owner = User("user-join-0", "Owner")
        chat_id = driver.api.create_chat(owner, title="join")["chat_id"]
        driver.api.post(f"/chats/{chat_id}/members", User("user-join-1", "Member"))
        for user in (owner, User("user-join-1", "Member")):
            driver.open_socket(user, chat_id)
        driver.pump()
        scenarios["join"] = driver.measure(
            "join",
            3,
            lambda i: driver.call("api", "POST", f"/chats/{chat_id}/members", User(f"user-join-x{i}", "X")),
        )
        progress(f"  requests: join: {scenarios['join'].summary.total:g} in all")
    return {
        "method": (
            "real handlers on moto in-process; botocore before-call/after-call hooks on every session; "
            "one event (queue) or stream record per consumer invocation; delivery = EventBridge "
            "SendMessage + ESM Receive/Delete per event and queue target (made by AWS, not counted in "
            "the critical path; the stream's GetRecords by Lambda are free and not counted); the "
            "publish on the critical path is the write committing the event rows; DynamoDB units "
            "estimated from item sizes"
        ),
        "skipped_routes": driver.skipped,
        "scenarios": {
            name: {**s.as_dict(), "core": s.core(extension_tables).cost_inputs()}
            for name, s in scenarios.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run in a process of its own (``python -m bench.aws_requests``): moto's patches, the hooks and
    the environment stay out of the caller, and Powertools reads its settings before anything else
    imports it."""
    import argparse

    parser = argparse.ArgumentParser(description=run.__doc__)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    section = run(repetitions=args.posts, progress=lambda line: print(line, flush=True))
    args.out.write_text(json.dumps(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
