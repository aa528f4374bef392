"""Sweeper Lambda (scheduled): moves turns whose deadline passed (TurnChanged reason ``timeout``), so
no chat is ever stuck.

Its outbox half is gone: the events table's stream publishes every committed event (the relay), so
there is no pending flag to sweep. The function keeps its name, which deployments and dashboards know.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from parley.observability import instrument
from parley.root import chat_service, turn_deadlines

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

PAGE = 100
STOP_WITH_MS_LEFT = 10_000


def _expire_turns(context: LambdaContext) -> int:
    moved = 0
    while True:
        now = datetime.now(UTC)
        # most runs find no turn due: those read the index and never load the chat service
        due = turn_deadlines()(now=now, limit=PAGE)
        found = chat_service().expire_turns(now=now, limit=PAGE, due=due) if due else 0
        moved += found
        if found < PAGE or context.get_remaining_time_in_millis() < STOP_WITH_MS_LEFT:
            return moved


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return {"turns_moved": _expire_turns(context)}
