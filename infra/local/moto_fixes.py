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

import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

_lock = threading.RLock()
_applied = False


def serialize_dynamodb_requests() -> None:
    """Make each moto DynamoDB request atomic, as each real DynamoDB request is. Idempotent."""
    global _applied
    if _applied:
        return
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _applied = True
