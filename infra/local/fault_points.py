"""Where the local stack's fault points fire: botocore hooks on every AWS client, the hook loader, the model.

Every botocore client the process creates (boto3's and PynamoDB's alike) gets the hooks, so the
layer's own adapters meet AWS's real error shapes and botocore's real retries. ``before-send``
sits inside botocore's retry loop (a throttle or a 500 is retried as in AWS); ``before-call``
sits outside it (a PutEvents answer with refused entries is what the caller sees).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from infra.local.faults import Faults
from parley.errors import ProviderError

DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
HOOK_HANG_SECONDS = 5.0
"""How long a timed-out hook sleeps: past every hook budget, so the caller gives up on it first."""

Published = Callable[[list[dict[str, Any]]], None]
"""Called with the PutEvents entries EventBridge accepted."""


class _Body:
    """The ``raw`` of a botocore response built here: a body to stream once."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(
    url: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> AWSResponse:
    return AWSResponse(url, status, headers or {}, _Body(json.dumps(body).encode()))


def _invocation(request: Any) -> str:
    return str(request.context.get("retries", {}).get("invocation-id", id(request.context)))


def _event_id(entry: dict[str, Any]) -> str:
    """``<detail-type>/<event id>``: the event's own identity, named so a report can say what it was."""
    try:
        event_id = str(json.loads(entry.get("Detail") or "{}")["metadata"]["event_id"])
    except (ValueError, KeyError, TypeError):
        return ""
    return f"{entry.get('DetailType', '')}/{event_id}"


class BotocoreFaults:
    """The hooks one client gets; ``published`` hears every accepted PutEvents entry (stats, wake-ups)."""

    def __init__(
        self,
        faults: Faults,
        published: Published,
        written: Callable[[], None] | None = None,
        watched: frozenset[str] | None = None,
    ) -> None:
        self.faults = faults
        self.published = published
        self.written = written
        self.watched = watched

    def register(self, events: Any) -> None:
        # first: an answer given here must win over any other before-send handler (moto's mock)
        events.register_first("before-call.eventbridge.PutEvents", self.refuse_entries)
        events.register("after-call.eventbridge.PutEvents", self.put_events_answered)
        events.register_first("before-send.eventbridge.PutEvents", self.fail_put_events)
        for operation in DYNAMODB_WRITES:
            events.register(f"before-parameter-build.dynamodb.{operation}", self.note_tables)
            events.register_first(f"before-send.dynamodb.{operation}", self.throttle)
            events.register(f"after-call.dynamodb.{operation}", self.call_succeeded)
            events.register(f"after-call.dynamodb.{operation}", self.row_written)
        events.register_first("before-send.apigatewaymanagementapi.PostToConnection", self.fail_push)
        events.register("after-call.apigatewaymanagementapi.PostToConnection", self.call_succeeded)

    # -- EventBridge ------------------------------------------------------------------------------

    def refuse_entries(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        body = params["body"]
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        entries: list[dict[str, Any]] = request["Entries"]
        context["parley_entries"] = entries
        refused = [n for n, e in enumerate(entries) if self.faults.fire("publish.entry", key=_event_id(e))]
        if not refused:
            return None
        context["parley_refused"] = refused
        kept = [e for n, e in enumerate(entries) if n not in refused]
        if not kept:
            context["parley_refused_all"] = True
            return _response("https://fault.invalid", 200, {}), {
                "FailedEntryCount": 0,
                "Entries": [],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
        params["body"] = json.dumps({**request, "Entries": kept}).encode()
        return None

    def put_events_answered(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        entries: list[dict[str, Any]] = context.get("parley_entries", [])
        refused = set(context.get("parley_refused", ()))
        if refused:
            answers = iter(parsed.get("Entries", []))
            merged = [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "injected fault (publish.entry)"}
                if n in refused
                else next(answers, {"ErrorCode": "InternalFailure", "ErrorMessage": "no answer"})
                for n in range(len(entries))
            ]
            parsed["Entries"] = merged
            parsed["FailedEntryCount"] = sum(1 for r in merged if "ErrorCode" in r)
        accepted = [
            e for e, r in zip(entries, parsed.get("Entries", []), strict=False) if "ErrorCode" not in r
        ]
        for entry in accepted:
            self.faults.succeeded(_event_id(entry), ("publish", "publish.entry"))
        if accepted:
            self.published(accepted)

    def fail_put_events(self, request: Any, **_: Any) -> AWSResponse | None:
        body = request.body
        try:
            entries = json.loads(body.decode() if isinstance(body, bytes) else body)["Entries"]
        except (ValueError, KeyError, TypeError, AttributeError):
            entries = []
        keys = [_event_id(e) for e in entries]
        if not self.faults.fire("publish", keys=keys):
            return None
        if len(keys) % 2:  # both ways a whole request fails: a time-out, or a 500 answer
            raise ReadTimeoutError(endpoint_url=request.url)
        return _response(
            request.url,
            500,
            {"__type": "InternalException", "message": "injected fault (publish)"},
            {"x-amzn-ErrorType": "InternalException"},
        )

    # -- DynamoDB, management API -----------------------------------------------------------------

    def throttle(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.faults.fire("dynamodb.throttle", key=_invocation(request)):
            return None
        return _response(
            request.url,
            400,
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "injected fault (dynamodb.throttle)",
            },
        )

    def fail_push(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.faults.fire("push.error", key=_invocation(request)):
            return None
        return _response(
            request.url,
            500,
            {"message": "injected fault (push.error)"},
            {"x-amzn-ErrorType": "InternalServerErrorException"},
        )

    def note_tables(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """Which tables the write touches, for ``row_written``."""
        tables = set(params.get("RequestItems") or ())  # BatchWriteItem
        tables.update(
            t
            for i in params.get("TransactItems") or ()
            for op in i.values()
            for t in [op.get("TableName")]
            if t
        )
        if params.get("TableName"):
            tables.add(params["TableName"])
        context["parley_tables"] = tables

    def row_written(self, context: dict[str, Any], **_: Any) -> None:
        """A write answered (a new event row maybe): the stream readers look now. Only a write to a
        ``watched`` table (the one with the stream) wakes them, when the tables are known."""
        if self.written is None:
            return
        if self.watched is None or self.watched & context.get("parley_tables", self.watched):
            self.written()

    def call_succeeded(self, context: dict[str, Any], **_: Any) -> None:
        invocation = context.get("retries", {}).get("invocation-id")
        if invocation:
            self.faults.succeeded(str(invocation), ("dynamodb.throttle", "push.error"))


def install_botocore(
    faults: Faults,
    published: Published,
    written: Callable[[], None] | None = None,
    watched: frozenset[str] | None = None,
) -> Callable[[], None]:
    """Give every botocore client created from now on the fault hooks (boto3's and PynamoDB's), and
    ``written`` after every DynamoDB write (to one of the ``watched`` tables, when given).

    Returns what undoes it (for tests; the local stack keeps them for its life)."""
    hooks = BotocoreFaults(faults, published, written, watched)
    session_class: Any = botocore.session.Session
    original = getattr(session_class.create_client, "_parley_original", session_class.create_client)

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        hooks.register(client.meta.events)
        return client

    wrapped: Any = create_client
    wrapped._parley_original = original
    session_class.create_client = wrapped

    def uninstall() -> None:
        session_class.create_client = original

    return uninstall


# -- hooks and the model ----------------------------------------------------------------------------


def hanging_loader(
    faults: Faults, load: Callable[[str], Callable[[dict[str, Any], Any], Any]]
) -> Callable[[str], Callable[[dict[str, Any], Any], Any]]:
    """A hook loader whose handlers sometimes never answer in time (``hook.timeout``)."""

    def loader(name: str) -> Callable[[dict[str, Any], Any], Any]:
        handler = load(name)

        def maybe_hang(event: dict[str, Any], context: Any) -> Any:
            if faults.fire("hook.timeout"):
                time.sleep(HOOK_HANG_SECONDS)
            return handler(event, context)

        return maybe_hang

    return loader


def install_model_faults(faults: Faults) -> Callable[[], None]:
    """Make the local model provider fail mid-stream (``ai.error``) or up front (``ai.throttle``).

    Returns what undoes it."""
    from parley.ai import providers

    provider_class: Any = providers.LocalProvider
    original = getattr(provider_class.stream, "_parley_original", provider_class.stream)

    def stream(self: Any, request: Any) -> Iterator[Any]:
        if faults.fire("ai.throttle"):
            raise ProviderError("throttled", "injected fault (ai.throttle)")
        failing = faults.fire("ai.error")
        for n, event in enumerate(original(self, request)):
            yield event
            if failing and n == 0:
                raise ProviderError("model_error", "injected fault (ai.error)")

    wrapped: Any = stream
    wrapped._parley_original = original
    provider_class.stream = wrapped

    def uninstall() -> None:
        provider_class.stream = original

    return uninstall
