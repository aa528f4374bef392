"""Adapters turn the AWS SDK's failures into Parley's own errors, raised from the SDK's exception.

Each case makes a real botocore client fail (a ``before-send`` hook answers instead of AWS, or
raises what the HTTP layer would), so the adapters meet the SDK's real exception types.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ReadTimeoutError

from parley.adapters import aws
from parley.adapters.bedrock import BedrockConverse
from parley.adapters.lambda_invoke import LambdaHookInvoker
from parley.adapters.websocket import ManagementApiPusher
from parley.errors import HookFailedError, HookTimeoutError, ProviderError, PushFailedError
from parley.extensions.hooks import HookRunner, ModerationRequest
from parley.extensions.manifest import ExtensionDocument, Hooks, Target

Answer = Callable[[Any], AWSResponse]

MOD = ExtensionDocument(
    id="mod",
    version="1",
    name="Mod",
    description="d",
    capabilities=("messages:moderate",),
    hooks=Hooks(moderate=True),
    target=Target(function="parley-ext-mod"),
)


class _Raw:
    """The HTTP body as botocore reads it: whole (``stream``) or as a streaming payload (``read``)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, amt: int | None = None) -> bytes:
        body, self._body = self._body, b""
        return body


def answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    def respond(request: Any) -> AWSResponse:
        return AWSResponse(request.url, status, headers or {}, _Raw(json.dumps(body).encode()))

    return respond


def error(code: str, status: int) -> Answer:
    return answer(status, {"message": "refused"}, {"x-amzn-ErrorType": code})


def raising(exc: Exception) -> Answer:
    def respond(request: Any) -> AWSResponse:
        raise exc

    return respond


@contextmanager
def aws_answers(service_operation: str, respond: Answer) -> Iterator[None]:
    """Every client built inside answers ``service.Operation`` with ``respond`` instead of AWS."""
    events = aws.session().get_component("event_emitter")
    event = f"before-send.{service_operation}"

    def hook(request: Any, **_: Any) -> AWSResponse:
        return respond(request)

    events.register(event, hook, unique_id="adapter-errors")
    try:
        yield
    finally:
        events.unregister(event, unique_id="adapter-errors")


def client_answering(service: str, operation: str, respond: Answer, **kwargs: Any) -> Any:
    client = boto3.client(
        service, region_name="us-east-1", config=Config(retries={"max_attempts": 1}), **kwargs
    )
    client.meta.events.register(f"before-send.{service}.{operation}", lambda request, **_: respond(request))
    return client


# -- Bedrock ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respond", "reason", "cause"),
    [
        pytest.param(error("ThrottlingException", 429), "throttled", ClientError, id="throttled"),
        pytest.param(error("ModelTimeoutException", 408), "timeout", ClientError, id="model-timeout"),
        pytest.param(error("AccessDeniedException", 403), "model_error", ClientError, id="refused"),
        pytest.param(raising(ReadTimeoutError(endpoint_url="x")), "timeout", ReadTimeoutError, id="read"),
        pytest.param(
            raising(EndpointConnectionError(endpoint_url="x")), "model_error", BotoCoreError, id="network"
        ),
    ],
)
def test_bedrock_failures_are_provider_errors_raised_from_the_sdk_error(
    respond: Answer, reason: str, cause: type[Exception]
) -> None:
    # Given a ConverseStream call that fails in the SDK
    bedrock = BedrockConverse(
        region="us-east-1", client=client_answering("bedrock-runtime", "ConverseStream", respond)
    )

    # When the adapter streams
    with pytest.raises(ProviderError) as failed:
        list(bedrock.stream({"modelId": "m", "messages": []}))

    # Then it is a ProviderError with AIResponseFailed's reason, raised from the SDK's exception
    assert failed.value.reason == reason
    assert isinstance(failed.value.__cause__, cause)


# -- Lambda hook invoker ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respond", "raised", "cause"),
    [
        pytest.param(
            raising(ReadTimeoutError(endpoint_url="x")), HookTimeoutError, ReadTimeoutError, id="late"
        ),
        pytest.param(error("ResourceNotFoundException", 404), HookFailedError, ClientError, id="no-function"),
        pytest.param(error("TooManyRequestsException", 429), HookFailedError, ClientError, id="throttled"),
        pytest.param(
            raising(EndpointConnectionError(endpoint_url="x")), HookFailedError, BotoCoreError, id="network"
        ),
    ],
)
def test_a_failed_invoke_is_a_hook_error_raised_from_the_sdk_error(
    respond: Answer, raised: type[Exception], cause: type[Exception]
) -> None:
    # Given Lambda answering the hook's invoke with a failure
    with aws_answers("lambda.Invoke", respond):
        invoker = LambdaHookInvoker("us-east-1")

        # When the hook is invoked, Then the SDK's failure comes back as the project's hook error
        with pytest.raises(raised) as failed:
            invoker.invoke(MOD, {"parley_hook": "moderate"}, 0.5)
    assert isinstance(failed.value.__cause__, cause)


def test_a_hook_whose_function_raised_is_a_hook_failure_and_an_answer_is_returned() -> None:
    # Given a function that raised (Lambda answers 200 with X-Amz-Function-Error) and one that answers
    crashed = answer(200, {"errorMessage": "boom"}, {"X-Amz-Function-Error": "Unhandled"})
    with aws_answers("lambda.Invoke", crashed), pytest.raises(HookFailedError, match="boom"):
        LambdaHookInvoker("us-east-1").invoke(MOD, {}, 0.5)
    with aws_answers("lambda.Invoke", answer(200, {"action": "allow"})):
        assert LambdaHookInvoker("us-east-1").invoke(MOD, {}, 0.5) == {"action": "allow"}


@pytest.mark.parametrize(
    ("respond", "outcome"),
    [
        pytest.param(raising(ReadTimeoutError(endpoint_url="x")), "timeout", id="late"),
        pytest.param(error("ResourceNotFoundException", 404), "error", id="no-function"),
    ],
)
def test_the_runner_rules_on_the_invokers_typed_errors(respond: Answer, outcome: str) -> None:
    # Given a chat that falls back to allowing posts when its hook fails
    with aws_answers("lambda.Invoke", respond):
        runner = HookRunner(LambdaHookInvoker("us-east-1"), budget_ms=500)

        # When the moderation hook fails in the SDK
        request = ModerationRequest(chat_id="c", message_id="m", sender_id="u", sender_name="U", text="hi")
        ruling = runner.moderate(MOD, request, "allow")

    # Then the outcome names the failure and the chat's fallback applies
    assert ruling.outcome == outcome
    assert ruling.moderation is not None
    assert ruling.moderation.action == "allow"


# -- WebSocket pusher ------------------------------------------------------------------------------


def test_a_push_that_cannot_reach_api_gateway_is_a_push_failure_raised_from_the_sdk_error() -> None:
    # Given the management API unreachable (the SDK's retries already spent)
    unreachable = raising(EndpointConnectionError(endpoint_url="https://execute-api.invalid"))
    client = client_answering(
        "apigatewaymanagementapi",
        "PostToConnection",
        unreachable,
        endpoint_url="https://execute-api.invalid",
    )

    # When a frame is pushed, Then it is a PushFailedError naming the connection
    with pytest.raises(PushFailedError, match="c-1") as failed:
        ManagementApiPusher("https://execute-api.invalid", client=client).push("c-1", b"{}")
    assert isinstance(failed.value.__cause__, EndpointConnectionError)


def test_concurrent_pushes_share_one_client_built_before_they_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client factory slow enough that a lazy build inside worker threads would race
    built: list[str] = []
    pushed: list[str] = []

    class Client:
        exceptions = type("Exceptions", (), {"GoneException": type("GoneException", (Exception,), {})})

        def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
            pushed.append(ConnectionId)

    def factory(*args: Any, **kwargs: Any) -> Client:
        built.append(kwargs["endpoint_url"])
        time.sleep(0.05)
        return Client()

    monkeypatch.setattr(aws, "client", factory)
    pusher = ManagementApiPusher("https://execute-api.invalid")

    # When 64 pushes run at once on 16 threads
    barrier = threading.Barrier(16)

    def push(i: int) -> None:
        if i < 16:
            barrier.wait()
        pusher.push(f"c-{i}", b"{}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(push, range(64)))

    # Then every push went out through one client, built once (building a client is not thread-safe)
    assert built == ["https://execute-api.invalid"]
    assert sorted(pushed) == sorted(f"c-{i}" for i in range(64))
