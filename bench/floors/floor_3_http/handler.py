"""Floor 3: floor 2 plus Powertools' HTTP resolver with request validation, one routed request."""

import contextlib
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

import parley.catalog
import parley.domain.model
from parley.adapters.tables import IdempotencyRecord, bind
from parley.settings import settings

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
LOADED = (parley.catalog, parley.domain.model)
REQUEST = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/floor",
    "rawQueryString": "",
    "headers": {},
    "requestContext": {"http": {"method": "GET", "path": "/floor"}, "stage": "$default"},
    "isBase64Encoded": False,
}


@app.get("/floor")
def floor() -> dict[str, bool]:
    bind(settings())
    with contextlib.suppress(IdempotencyRecord.DoesNotExist):
        IdempotencyRecord.get("floor")
    return {"ok": True}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer: dict[str, Any] = app.resolve(REQUEST, context)
    return {"ok": answer["statusCode"] == 200}
