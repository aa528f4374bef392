"""Model providers behind one interface: Amazon Bedrock (Converse stream) and a local provider.

A provider turns a ``ModelRequest`` into a stream of ``TextDelta`` and, last, one ``Usage``. Every
failure is a ``ProviderError`` with the reason AIResponseFailed reports, so the responder never
needs to know which SDK raised what. Which provider answers is configuration (the participant's
``provider`` and the ``PARLEY_AI_PROVIDER`` override), never a code edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from parley.adapters.bedrock import BedrockConverse
from parley.errors import ProviderError

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Utterance:
    """One message of the conversation as the model sees it."""

    role: Role
    speaker: str
    text: str


@dataclass(frozen=True)
class ModelRequest:
    model: str
    system: str
    messages: tuple[Utterance, ...]
    max_output_tokens: int = 512


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


StreamEvent = TextDelta | Usage


class ModelProvider(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        """Yield the reply as it is produced; raise ProviderError on any failure."""
        ...


def estimate_tokens(text: str) -> int:
    """About four characters a token: good enough for a context budget, never used for billing."""
    return max(1, len(text) // 4)


# --------------------------------------------------------------------------------------------------
# Local provider
# --------------------------------------------------------------------------------------------------


class LocalProvider:
    """Deterministic, no network: the same conversation always gets the same reply, in chunks.

    The reply quotes the latest message and counts the conversation, so a test (or a person trying
    ``make dev``) can see the context really reached the model. ``chunk_delay_ms`` paces the stream
    like a real model's tokens; ``sleep`` is injectable so unit tests do not wait.
    """

    name = "local"

    def __init__(
        self,
        *,
        chunk_delay_ms: float = 40.0,
        words_per_chunk: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._delay = chunk_delay_ms / 1000
        self._words = max(1, words_per_chunk)
        self._sleep = sleep

    def reply(self, request: ModelRequest) -> str:
        people = [m for m in request.messages if m.role == "user"]
        if not people:
            return "Hello! I have nothing to answer yet; say something and I will reply."
        last = people[-1]
        quoted = last.text if len(last.text) <= 80 else last.text[:77] + "..."
        speakers = sorted({m.speaker for m in people})
        return (
            f"{last.speaker}, you said: \u201c{quoted}\u201d. "
            f"I have read {len(request.messages)} message{'s' if len(request.messages) != 1 else ''} "
            f"from {', '.join(speakers)}. Here is my short answer: let us take it one step at a time."
        )

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        words = self.reply(request).split(" ")
        for start in range(0, len(words), self._words):
            if self._delay:
                self._sleep(self._delay)
            piece = " ".join(words[start : start + self._words])
            yield TextDelta(piece if start == 0 else " " + piece)
        prompt = request.system + " ".join(m.text for m in request.messages)
        yield Usage(input_tokens=estimate_tokens(prompt), output_tokens=len(words))


# --------------------------------------------------------------------------------------------------
# Amazon Bedrock (Converse stream)
# --------------------------------------------------------------------------------------------------


def converse_messages(messages: tuple[Utterance, ...]) -> list[dict[str, Any]]:
    """Converse wants user first, roles alternating, and a user message last.

    Several people speak as ``user``: each text is prefixed with its speaker and consecutive ones are
    merged into one message; a trailing assistant message gets a short user nudge after it.
    """
    merged: list[dict[str, Any]] = []
    for m in messages:
        text = f"{m.speaker}: {m.text}" if m.role == "user" else m.text
        if merged and merged[-1]["role"] == m.role:
            merged[-1]["content"].append({"text": text})
        else:
            merged.append({"role": m.role, "content": [{"text": text}]})
    while merged and merged[0]["role"] != "user":
        merged.pop(0)
    if not merged or merged[-1]["role"] != "user":
        merged.append({"role": "user", "content": [{"text": "(It is your turn to speak.)"}]})
    return merged


class BedrockConverseProvider:
    """Amazon Bedrock's ConverseStream (model id per participant): the conversation in Converse's
    shape out, text deltas and usage back; the adapter turns every SDK failure into ProviderError."""

    name = "bedrock"

    def __init__(self, *, region: str, read_timeout_seconds: float = 60.0, client: Any | None = None) -> None:
        self._bedrock = BedrockConverse(
            region=region, read_timeout_seconds=read_timeout_seconds, client=client
        )

    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        kwargs: dict[str, Any] = {
            "modelId": request.model,
            "messages": converse_messages(request.messages),
            "inferenceConfig": {"maxTokens": request.max_output_tokens},
        }
        if request.system:
            kwargs["system"] = [{"text": request.system}]
        for event in self._bedrock.stream(kwargs):
            if "contentBlockDelta" in event:
                text = event["contentBlockDelta"].get("delta", {}).get("text")
                if text:
                    yield TextDelta(text)
            elif "metadata" in event:
                usage = event["metadata"].get("usage", {})
                yield Usage(int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0)))


def build_provider(
    name: str, *, region: str, local_chunk_delay_ms: float, read_timeout_seconds: float
) -> ModelProvider:
    if name == "local":
        return LocalProvider(chunk_delay_ms=local_chunk_delay_ms)
    if name == "bedrock":
        return BedrockConverseProvider(region=region, read_timeout_seconds=read_timeout_seconds)
    raise ProviderError("model_error", f"unknown AI provider {name!r}")
