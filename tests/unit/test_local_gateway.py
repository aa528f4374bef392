"""The local gateway invokes the api as one Lambda container would: one request at a time."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from infra.local import functions
from infra.local.auth import LocalIdentityProvider
from infra.local.gateway import Gateway


def _peak_concurrency(monkeypatch: pytest.MonkeyPatch, function: str, requests: int = 5) -> int:
    """How many invocations of ``function`` ran at once when ``requests`` came together."""
    lock, running, peak = threading.Lock(), [0], [0]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)  # a request waiting on DynamoDB: another thread gets the GIL meanwhile
        with lock:
            running[0] -= 1
        return {"statusCode": 200}

    monkeypatch.setitem(functions._PROVIDED, function, handler)
    gateway = Gateway(
        LocalIdentityProvider(issuer="http://127.0.0.1/local"),
        ready=lambda: True,
        stats=dict,
        aws_endpoint="http://127.0.0.1:1",
        redrive=dict,
    )

    async def together() -> None:
        await asyncio.gather(*(gateway._invoke(function, {}) for _ in range(requests)))

    asyncio.run(together())
    return peak[0]


def test_the_api_takes_one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Powertools' resolver keeps the request in class attributes: two at once read each other's caller
    assert _peak_concurrency(monkeypatch, "api") == 1


def test_other_functions_still_run_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _peak_concurrency(monkeypatch, "realtime") > 1
