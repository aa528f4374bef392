"""Amazon Bedrock's ConverseStream call, with every SDK failure turned into a ProviderError."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from parley.adapters import aws
from parley.errors import ProviderError, ProviderFailure

THROTTLED = frozenset(
    {
        "ThrottlingException",
        "throttlingException",
        "ServiceQuotaExceededException",
        "TooManyRequestsException",
    }
)
TIMED_OUT = frozenset({"ModelTimeoutException", "modelTimeoutException"})


def reason_of(code: str) -> ProviderFailure:
    """Bedrock's error code (the same before and inside the stream) as AIResponseFailed's reason."""
    if code in THROTTLED:
        return "throttled"
    if code in TIMED_OUT:
        return "timeout"
    return "model_error"


class BedrockConverse:
    """``bedrock-runtime`` ConverseStream through botocore; the client is built on first use.

    botocore retries throttling before the first byte (standard mode); what still fails becomes a
    ProviderError. Errors inside the stream arrive as EventStreamError with the same codes.
    """

    def __init__(self, *, region: str, read_timeout_seconds: float = 60.0, client: Any | None = None) -> None:
        self._region = region
        self._read_timeout = read_timeout_seconds
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client(
                "bedrock-runtime",
                region=self._region,
                config=Config(
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=self._read_timeout,
                ),
            )
        return self._client

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield the stream's events (``contentBlockDelta``, ``metadata``, ...) as botocore parses them."""
        try:
            response = self.client.converse_stream(**request)
            yield from response["stream"]
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise ProviderError("timeout", f"Bedrock did not answer in time: {exc}") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            raise ProviderError(reason_of(code), f"{code}: {error.get('Message', '')}") from exc
        except BotoCoreError as exc:
            raise ProviderError("model_error", str(exc)) from exc
