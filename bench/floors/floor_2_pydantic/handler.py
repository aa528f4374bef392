"""Floor 2: floor 1 plus pydantic with the event catalog and the domain model (every function that
handles events or chats needs them)."""

import contextlib
from typing import Any

from aws_lambda_powertools import Logger

import parley.catalog
import parley.domain.model
from parley.adapters.tables import IdempotencyRecord, bind
from parley.settings import settings

logger = Logger()
LOADED = (parley.catalog, parley.domain.model)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bind(settings())
    with contextlib.suppress(IdempotencyRecord.DoesNotExist):
        IdempotencyRecord.get("floor")
    return {"ok": True}
