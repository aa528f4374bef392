"""One place creates the Logger, Tracer and Metrics every function uses, with one decorator order.

The X-Ray SDK is off unless ``PARLEY_XRAY_SDK`` is true: with Lambda's Active tracing the service
still records every invocation's segment (duration, errors, cold start), and the SDK's import and
botocore patch cost each cold start more than its per-call subsegments are worth by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

from parley.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics(namespace="Parley")


def _tracer() -> Tracer | None:
    if not settings().xray_sdk:
        return None
    from aws_lambda_powertools import Tracer

    # Only the AWS SDK's core: every AWS call (PynamoDB's too, which go through its clients) gets one
    # subsegment. Patching everything X-Ray supports (the default) imports and wraps http.client,
    # sqlite3 and the like at every cold start for calls we never make, and traces each PynamoDB call
    # twice (the SDK's subsegment and PynamoDB's own around the HTTP send).
    return Tracer(patch_modules=("botocore",))


tracer = _tracer()

F = TypeVar("F", bound=Callable[..., Any])


def instrument(correlation_id_path: str | None = None) -> Callable[[F], F]:
    """Logger context (with correlation id), X-Ray tracing if on, and EMF metrics, always in this order."""

    def wrap(handler: F) -> F:
        traced = metrics.log_metrics(handler)
        if tracer is not None:
            traced = tracer.capture_lambda_handler(traced)
        logged = logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(
            traced
        )
        return cast(F, logged)

    return wrap
