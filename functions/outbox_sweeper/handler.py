"""Sweeper Lambda (scheduled): publishes committed events whose writer never confirmed them, and
moves turns whose deadline passed (TurnChanged reason ``timeout``), so no chat is ever stuck.

One scheduled function for both sweeps: each is a few index queries when there is nothing to do,
and a second schedule would double the idle invocations for no gain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from parley.errors import PublishError
from parley.observability import instrument, logger
from parley.root import chat_service, outbox
from parley.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

PAGE = 100
STOP_WITH_MS_LEFT = 10_000


def _expire_turns(context: LambdaContext) -> int:
    moved = 0
    while True:
        found = chat_service().expire_turns(now=datetime.now(UTC), limit=PAGE)
        moved += found
        if found < PAGE or context.get_remaining_time_in_millis() < STOP_WITH_MS_LEFT:
            return moved


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    turn_error: Exception | None = None
    try:
        turns_moved = _expire_turns(context)
    except Exception as exc:
        # the outbox sweep must still run; the error is raised after it, so the alarm still fires
        logger.exception("turn sweep failed")
        turn_error, turns_moved = exc, 0
    result = outbox().sweep(
        now=datetime.now(UTC),
        grace_seconds=settings().outbox_grace_seconds,
        limit=PAGE,
        keep_going=lambda: context.get_remaining_time_in_millis() >= STOP_WITH_MS_LEFT,
    )
    counts = {"found": result.found, "published": result.published, "failed": result.failed}
    counts["parked"] = result.parked
    if result.failed:
        # fail the invocation so the error alarm fires; the events stay pending for the next run
        raise PublishError(f"{result.failed} outbox events could not be published", **counts)
    if turn_error is not None:
        raise turn_error
    return {**counts, "turns_moved": turns_moved}
