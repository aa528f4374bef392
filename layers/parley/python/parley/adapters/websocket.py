"""Pushes to sockets through the API Gateway management API (the local gateway serves the same API)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from parley.errors import PushFailedError
from parley.ports import ConnectionGoneError

# botocore retries throttling, 5xx and connection errors itself (bounded); timeouts stay short so
# one slow socket cannot hold a fan-out
PUSH_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=3)


class ManagementApiPusher:
    def __init__(self, endpoint_url: str, *, client: Any | None = None) -> None:
        self._endpoint_url = endpoint_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=self._endpoint_url, config=PUSH_CONFIG
            )
        return self._client

    def push(self, connection_id: str, frame: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=frame)
        except (ClientError, BotoCoreError) as exc:
            # the client itself may be what failed (built on first use): then it has no GoneException
            if self._client is not None and isinstance(exc, self._client.exceptions.GoneException):
                raise ConnectionGoneError(connection_id) from exc
            raise PushFailedError(f"push to {connection_id} failed: {exc}") from exc
