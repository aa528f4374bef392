"""One place creates the Logger, Tracer and Metrics every function uses, with one decorator order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Only the AWS SDK's core: every AWS call (PynamoDB's too, which go through its clients) gets one
# subsegment. Patching everything X-Ray supports (the default) imports and wraps http.client,
# sqlite3 and the like at every cold start for calls we never make, and traces each PynamoDB call
# twice (the SDK's subsegment and PynamoDB's own around the HTTP send).
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics(namespace="Parley")

F = TypeVar("F", bound=Callable[..., Any])


def instrument(correlation_id_path: str | None = None) -> Callable[[F], F]:
    """Logger context (with correlation id), X-Ray tracing and EMF metrics, always in this order."""

    def wrap(handler: F) -> F:
        traced = tracer.capture_lambda_handler(metrics.log_metrics(handler))
        logged = logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(
            traced
        )
        return cast(F, logged)

    return wrap
