"""HTTP API Lambda: Powertools wiring only; routes live in the shared layer (parley.http)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from parley.http.app import app
from parley.observability import instrument

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
