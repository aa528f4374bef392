"""Floor 1: PynamoDB's table models, Powertools' Logger, the settings, one GetItem."""

import contextlib
from typing import Any

from aws_lambda_powertools import Logger

from parley.adapters.tables import IdempotencyRecord, bind
from parley.settings import settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bind(settings())
    with contextlib.suppress(IdempotencyRecord.DoesNotExist):
        IdempotencyRecord.get("floor")
    return {"ok": True}
