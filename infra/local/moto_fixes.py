"""Fill the gaps between moto and the AWS services it stands in for, where our code depends on them.

DynamoDB serializes every request on the items it touches: a conditional write or a transaction
either sees the other writer's result or fails its condition. moto runs requests from several
threads against shared dicts without a lock (its TransactWriteItems even deep-copies tables while
another thread writes them), so concurrent tests and the threaded local stack would see races that
AWS never has. One lock around each DynamoDB request restores the atomicity of each call; the
races *between* calls (read, decide, conditional write) are untouched, and are exactly what our
optimistic concurrency must handle.
"""

from __future__ import annotations

import base64
import calendar
import functools
import importlib
import json
import threading
from datetime import datetime
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

_lock = threading.RLock()
_applied = False


def serialize_dynamodb_requests() -> None:
    """Make each moto DynamoDB request atomic, as each real DynamoDB request is. Idempotent.

    DynamoDB Streams requests take the same lock: a transaction that fails midway appends its
    records to the stream before moto rolls it back, and a GetRecords in between would hand out a
    record of a write that never happened (and skip the real one later given its sequence number)."""
    global _applied
    if _applied:
        return
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original = handler.call_action

        def call_action(self: Any, original: Any = original) -> Any:
            with _lock:
                return original(self)

        handler.call_action = call_action  # type: ignore[method-assign]
    _applied = True


def cache_jsonpath_parsing() -> None:
    """moto's EventBridge re-parses the same JSONPath expressions (a yacc grammar) for every target
    of every event, which costs ~15 ms per PutEvents; parsed paths are immutable, so cache them."""
    ext: Any = importlib.import_module("jsonpath_ng.ext")
    if getattr(ext.parse, "_parley_cached", False):
        return
    cached: Any = functools.lru_cache(maxsize=1024)(ext.parse)
    cached._parley_cached = True
    ext.parse = cached


def fast_dynamodb_transactions() -> None:
    """Skip moto's whole-table deep copy when a transaction cannot need a rollback.

    moto backs up every table a TransactWriteItems touches (a deep copy, O(table size)) so it can
    undo a failed transaction. With requests serialized (above), we check every condition and key
    first; when all pass, nothing can fail midway, so the backup is skipped and the cost no longer
    grows with the table. When a check fails, moto's own path runs unchanged, for its exact errors.
    """
    models: Any = importlib.import_module("moto.dynamodb.models")

    backend_class: Any = models.DynamoDBBackend
    if getattr(backend_class.transact_write_items, "_parley_fast", False):
        return
    original = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) <= 100 and _all_checks_pass(self, transact_items):
            with _lock:
                saved = models.copy
                models.copy = _NoCopy
                try:
                    original(self, transact_items)
                finally:
                    models.copy = saved
            return
        streams = _stream_positions(self)
        try:
            original(self, transact_items)
        except Exception:
            _roll_streams_back(self, streams)
            raise

    fast: Any = transact_write_items
    fast._parley_fast = True
    backend_class.transact_write_items = fast


def _stream_positions(backend: Any) -> dict[str, tuple[Any, int]]:
    return {
        name: (table.stream_shard, len(table.stream_shard.items))
        for name, table in backend.tables.items()
        if getattr(table, "stream_shard", None) is not None
    }


def _roll_streams_back(backend: Any, streams: dict[str, tuple[Any, int]]) -> None:
    """A cancelled transaction leaves no stream record, as in AWS. moto rolls a table back by putting
    a deep copy in its place, whose stream is a copy too: readers would keep reading the old shard
    (with the cancelled writes' records) and never see a later write. So the shard readers hold
    stays, minus what the cancelled transaction appended, and serves the restored table."""
    for name, (shard, length) in streams.items():
        del shard.items[length:]
        table = backend.tables.get(name)
        if table is not None and table.stream_shard is not shard:
            table.stream_shard = shard
            shard.table = table


class _NoCopy:
    """Stands in for the ``copy`` module inside moto's transaction, so its backup is the table itself."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value


_TRANSACT_OPS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


def _all_checks_pass(backend: Any, transact_items: list[dict[str, Any]]) -> bool:
    """True only when moto's transaction cannot fail midway: every item is one known operation on
    an existing table, no two touch the same key, and every condition holds now."""
    seen: set[tuple[str, str]] = set()
    for item in transact_items:
        if len(item) != 1:
            return False
        op_type, op = next(iter(item.items()))
        table_name = op.get("TableName")
        if op_type not in _TRANSACT_OPS or table_name not in backend.tables:
            return False
        key = _item_key(backend.tables[table_name], op_type, op)
        if key is None:
            return False
        identity = (str(table_name), str(dict(sorted(key.items()))))
        if identity in seen:
            return False
        seen.add(identity)
        if not _condition_holds(backend, table_name, key, op):
            return False
    return True


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    """The key an operation touches; a Put carries it in its item (None if the item lacks it, which
    moto must reject with its own error)."""
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    attrs = op["Item"]
    if table.hash_key_attr not in attrs or (
        table.range_key_attr is not None and table.range_key_attr not in attrs
    ):
        return None
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _condition_holds(backend: Any, table_name: str, key: dict[str, Any], op: dict[str, Any]) -> bool:
    """Evaluate the operation's condition on the item as it is now, with moto's own evaluator."""
    condition = op.get("ConditionExpression")
    if condition is None:
        return True
    current = backend.get_item(table_name, key)
    check = get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    return bool(check.expr(current))


def cheap_sqs_retention_check() -> None:
    """moto checks each message it hands out against the queue's retention period by building every
    attribute of the queue (three passes over all its messages, each reading the clock per message)
    for each name asked: O(depth²) per ReceiveMessage once a queue has a backlog. Read the one
    attribute instead; the answer is the same."""
    models: Any = importlib.import_module("moto.sqs.models")
    backend_class: Any = models.SQSBackend
    if getattr(backend_class.is_message_valid_based_on_retention_period, "_parley_cheap", False):
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > models.unix_time())

    cheap: Any = is_message_valid_based_on_retention_period
    cheap._parley_cheap = True
    backend_class.is_message_valid_based_on_retention_period = cheap


_sending = threading.local()


def cheap_sqs_send() -> None:
    """moto's SendMessage also builds every attribute of the queue (three passes over its messages)
    to read one, ``ContentBasedDeduplication``: each event EventBridge routes to a queue cost
    O(depth). While a message is sent, the queue's attributes are that one alone (every read of them
    on that path asks for it, and nothing else); elsewhere they are moto's own."""
    models: Any = importlib.import_module("moto.sqs.models")
    backend_class: Any = models.SQSBackend
    if getattr(backend_class.send_message, "_parley_cheap", False):
        return
    everything = models.Queue.attributes
    send = backend_class.send_message

    def attributes(queue: Any) -> dict[str, Any]:
        if not getattr(_sending, "active", False):
            result: dict[str, Any] = everything.fget(queue)
            return result
        if not queue.fifo_queue:
            return {}
        value = queue.content_based_deduplication
        return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        outer = getattr(_sending, "active", False)
        _sending.active = True
        try:
            return send(self, *args, **kwargs)
        finally:
            _sending.active = outer

    cheap: Any = send_message
    cheap._parley_cheap = True
    models.Queue.attributes = property(attributes)
    backend_class.send_message = cheap


def apply_all() -> None:
    """Every fix, for the local stack and the tests."""
    serialize_dynamodb_requests()
    cache_jsonpath_parsing()
    fast_dynamodb_transactions()
    cheap_sqs_retention_check()
    cheap_sqs_send()


def speed_up_server() -> None:
    """Per-request overheads of moto that do not exist in AWS:

    - it lists its own package directory on every request to route it (``list_of_moto_modules``);
    - it inspects the response class's methods on every request (``method_names_from_class``).
    """
    backends: Any = importlib.import_module("moto.backends")
    responses: Any = importlib.import_module("moto.core.responses")

    if getattr(backends.list_of_moto_modules, "_parley_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    listing: Any = list_of_moto_modules
    listing._parley_cached = True
    backends.list_of_moto_modules = listing
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
    fast_json_results()


_JSON_RESULTS = {
    "dynamodb": frozenset(
        {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactGetItems",
            "TransactWriteItems",
        }
    ),
    "dynamodbstreams": frozenset({"GetRecords"}),
}
"""The operations whose answers are written with ``json.dumps`` (by service): the data plane, where
moto's result is already the answer's JSON shape."""


def _json_value(value: Any) -> Any:
    """What AWS's JSON protocol writes for the values moto's results hold besides JSON's own."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        seconds = calendar.timegm(value.timetuple())  # as moto's serializer: UTC, to the millisecond
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def fast_json_results() -> None:
    """moto writes every answer by walking the operation's output shape member by member (about a
    fifth of its CPU per request for DynamoDB). A data-plane result is already the answer's JSON
    (PascalCase keys, attribute values as ``{"S": ...}``): dump its members as they are, binaries
    as base64 and times as epoch seconds to the millisecond, as the shape walk does. Anything else
    (errors, other operations, a value JSON cannot hold) takes moto's own path. For the local
    stack's moto process only; tests/integration/test_moto_json_results.py holds both ways to the
    same answers."""
    responses: Any = importlib.import_module("moto.core.responses")
    base: Any = responses.BaseResponse
    if getattr(base.serialized, "_parley_fast", False):
        return
    original = base.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        action = self._get_action()
        if isinstance(result, dict) and action in _JSON_RESULTS.get(self.service_name, ()):
            members = _output_members(responses, self.boto3_service_name, action)
            answer = {k: v for k, v in result.items() if k in members and v is not None}
            try:
                body = json.dumps(answer, default=_json_value, separators=(",", ":"))
            except TypeError:
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    fast: Any = serialized
    fast._parley_fast = True
    fast._parley_original = original
    base.serialized = fast


@functools.cache
def _output_members(responses: Any, service: str, action: str) -> frozenset[str]:
    """The members of an operation's answer (a result's other keys are moto's own notes)."""
    shape = responses.get_service_model(service).operation_model(action).output_shape
    return frozenset(shape.members if shape is not None else ())
