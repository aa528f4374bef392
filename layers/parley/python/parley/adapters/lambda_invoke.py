"""Extension hooks in AWS: a synchronous Lambda invoke of the extension's function within the budget."""

from __future__ import annotations

import json
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from parley.adapters import aws
from parley.errors import HookFailedError, HookTimeoutError
from parley.extensions.manifest import ExtensionDocument


class LambdaHookInvoker:
    """Synchronous Lambda invoke with a read timeout of the budget and no retries."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._clients: dict[float, Any] = {}

    def _client(self, timeout_seconds: float) -> Any:
        key = round(timeout_seconds, 2)
        if key not in self._clients:
            self._clients[key] = aws.client(
                "lambda",
                region=self._region,
                config=Config(
                    connect_timeout=max(0.05, timeout_seconds),
                    read_timeout=max(0.05, timeout_seconds),
                    retries={"max_attempts": 1, "mode": "standard"},
                ),
            )
        return self._clients[key]

    def invoke(self, document: ExtensionDocument, payload: dict[str, Any], timeout_seconds: float) -> Any:
        if not document.target.function:
            raise LookupError(f"extension {document.id} has no function to run its hook")
        try:
            response = self._client(timeout_seconds).invoke(
                FunctionName=document.target.function, Payload=json.dumps(payload).encode()
            )
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise HookTimeoutError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise HookFailedError(f"could not invoke {document.target.function}: {exc}") from exc
        try:
            body = response["Payload"].read()
        except BotoCoreError as exc:  # the answer started within the budget: an error, not a timeout
            raise HookFailedError(f"the answer of {document.target.function} broke off: {exc}") from exc
        if response.get("FunctionError"):
            raise HookFailedError(f"hook failed: {body[:300]!r}")
        return json.loads(body or b"null")
