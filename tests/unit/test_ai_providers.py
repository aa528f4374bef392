"""Model providers: the local one is deterministic; Bedrock's is fed the real ConverseStream wire format.

No Bedrock endpoint is reachable here, so a ``before-send`` hook answers botocore with the binary
AWS event stream Bedrock sends (prelude, headers, JSON payload, CRCs): botocore's own parser turns it
into the event dicts, so the provider meets exactly what it would meet in AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from parley.ai.providers import (
    BedrockConverseProvider,
    LocalProvider,
    ModelRequest,
    StreamEvent,
    TextDelta,
    Usage,
    Utterance,
    converse_messages,
)
from parley.errors import ProviderError
from tests.support.bedrock import event, exception

REQUEST = ModelRequest(
    model="amazon.nova-micro-v1:0",
    system="You are Oracle.",
    messages=(
        Utterance("user", "Alice", "Where shall we meet?"),
        Utterance("assistant", "Oracle", "At the opera."),
        Utterance("user", "Bob", "@Oracle which door?"),
    ),
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        # in small pieces, as the network delivers it: the parser must reassemble frames
        for start in range(0, len(self._body), 7):
            yield self._body[start : start + 7]


def bedrock(answer: Any) -> tuple[BedrockConverseProvider, list[dict[str, Any]]]:
    """A provider whose client gets ``answer`` (bytes of a 200 stream, an (status, code) error, or an
    exception to raise) instead of reaching AWS; also returns the request bodies it sent."""
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    sent: list[dict[str, Any]] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        sent.append(json.loads(request.body))
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            status, code = answer
            headers = {"x-amzn-ErrorType": code, "content-type": "application/json"}
            return AWSResponse(request.url, status, headers, _Raw(json.dumps({"message": "nope"}).encode()))
        headers = {"content-type": "application/vnd.amazon.eventstream"}
        return AWSResponse(request.url, 200, headers, _Raw(answer))

    client.meta.events.register("before-send.bedrock-runtime.ConverseStream", before_send)
    return BedrockConverseProvider(region="us-east-1", client=client), sent


GOOD_STREAM = b"".join(
    [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "The "}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "stage door."}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": 42, "outputTokens": 5, "totalTokens": 47},
                "metrics": {"latencyMs": 310},
            },
        ),
    ]
)


def test_bedrock_streams_text_deltas_then_usage_from_the_real_wire_format() -> None:
    # Given Bedrock answers with a ConverseStream of two text deltas and usage metadata
    provider, sent = bedrock(GOOD_STREAM)

    # When the provider streams the reply
    events = list(provider.stream(REQUEST))

    # Then it yields the text pieces in order and the token counts last
    assert events == [TextDelta("The "), TextDelta("stage door."), Usage(42, 5)]
    # And it asked for the participant's model with the persona as the system prompt
    (body,) = sent
    assert body["system"] == [{"text": "You are Oracle."}]
    assert body["inferenceConfig"] == {"maxTokens": 512}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [{"text": "Bob: @Oracle which door?"}]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param((429, "ThrottlingException"), "throttled", id="throttled-on-call"),
        pytest.param((408, "ModelTimeoutException"), "timeout", id="model-timeout-on-call"),
        pytest.param((400, "ValidationException"), "model_error", id="bad-request"),
        pytest.param((403, "AccessDeniedException"), "model_error", id="no-model-access"),
        pytest.param(ReadTimeoutError(endpoint_url="https://bedrock"), "timeout", id="read-timeout"),
        pytest.param(
            event("messageStart", {"role": "assistant"}) + exception("throttlingException", "slow down"),
            "throttled",
            id="throttled-mid-stream",
        ),
        pytest.param(
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hal"}})
            + exception("modelStreamErrorException", "the model broke"),
            "model_error",
            id="model-error-mid-stream",
        ),
    ],
)
def test_bedrock_failures_become_provider_errors_with_a_reason(answer: Any, reason: str) -> None:
    # Given Bedrock fails before or during the stream
    provider, _ = bedrock(answer)

    # When the provider streams
    # Then it raises a ProviderError whose reason AIResponseFailed reports
    received: list[StreamEvent] = []
    with pytest.raises(ProviderError) as excinfo:
        received.extend(provider.stream(REQUEST))
    assert excinfo.value.reason == reason


def test_converse_messages_start_with_a_person_alternate_and_end_with_a_person() -> None:
    # Given a conversation that opens with the AI and has two people speaking in a row, then the AI
    messages = (
        Utterance("assistant", "Oracle", "Welcome."),
        Utterance("user", "Alice", "Hi"),
        Utterance("user", "Bob", "Hello"),
        Utterance("assistant", "Oracle", "Hello both."),
    )

    # When it is shaped for Converse
    shaped = converse_messages(messages)

    # Then the leading AI line is dropped, the people are merged, and a user nudge closes it
    assert [m["role"] for m in shaped] == ["user", "assistant", "user"]
    assert shaped[0]["content"] == [{"text": "Alice: Hi"}, {"text": "Bob: Hello"}]
    assert shaped[2]["content"] == [{"text": "(It is your turn to speak.)"}]


def test_the_local_provider_is_deterministic_paced_and_built_from_the_conversation() -> None:
    # Given the local provider with a recorded pace
    pauses: list[float] = []
    provider = LocalProvider(chunk_delay_ms=25, words_per_chunk=3, sleep=pauses.append)

    # When it answers the same request twice
    first, second = list(provider.stream(REQUEST)), list(provider.stream(REQUEST))

    # Then both answers are identical, in several chunks, each after the configured pause
    assert first == second
    chunks = [e.text for e in first if isinstance(e, TextDelta)]
    assert len(chunks) >= 3
    assert pauses == [0.025] * (2 * len(chunks))
    # And the reply quotes the latest person's message and counts the conversation
    text = "".join(chunks)
    assert text.startswith("Bob, you said: \u201c@Oracle which door?\u201d")
    assert "read 3 messages from Alice, Bob" in text
    # And the usage comes last, with one output token per word
    usage = first[-1]
    assert isinstance(usage, Usage)
    assert usage.output_tokens == len(text.split(" "))
    assert usage.input_tokens > 0
