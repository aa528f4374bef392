"""Outbox sweeper Lambda (scheduled): publishes committed events whose writer never confirmed them."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from parley.errors import PublishError
from parley.observability import instrument
from parley.services.container import outbox
from parley.settings import settings

PAGE = 100
STOP_WITH_MS_LEFT = 10_000


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    found = published = 0
    while True:
        result = outbox().sweep(
            now=datetime.now(UTC), grace_seconds=settings().outbox_grace_seconds, limit=PAGE
        )
        found, published = found + result.found, published + result.published
        if result.failed:
            # fail the invocation so the error alarm fires; the events stay pending for the next run
            raise PublishError(
                f"{result.failed} outbox events could not be published", failed_count=result.failed
            )
        if result.found < PAGE or context.get_remaining_time_in_millis() < STOP_WITH_MS_LEFT:
            return {"found": found, "published": published}
