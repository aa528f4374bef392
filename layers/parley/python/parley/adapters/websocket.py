"""Pushes to sockets through the API Gateway management API (the local gateway serves the same API)."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from parley.adapters import aws
from parley.errors import PushFailedError
from parley.ports import ConnectionGoneError

# botocore retries throttling, 5xx and connection errors itself (bounded); timeouts stay short so
# one slow socket cannot hold a fan-out
PUSH_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=3)


class ManagementApiPusher:
    """Built before any fan-out thread starts (its factory in parley.root is the lazy part): one
    client for every push thread, not one each (clients are thread-safe, building them is not)."""

    def __init__(self, endpoint_url: str, *, client: Any | None = None) -> None:
        self.client: Any = client or aws.client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url, config=PUSH_CONFIG
        )

    def push(self, connection_id: str, frame: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=frame)
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, self.client.exceptions.GoneException):
                raise ConnectionGoneError(connection_id) from exc
            raise PushFailedError(f"push to {connection_id} failed: {exc}") from exc
