"""Realtime Lambda: the WebSocket API's $connect, $disconnect and action routes.

The action's reply frame is the route response (two-way routes); pushes to other sockets go
through the bus and the broadcaster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.observability import instrument
from parley.root import realtime_service
from parley.services.chats import Identity

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _connect(event: dict[str, Any]) -> dict[str, Any]:
    authorizer = event["requestContext"].get("authorizer") or {}
    who = Identity(user_id=authorizer["user_id"], name=authorizer.get("name") or authorizer["user_id"])
    realtime_service().connect(event["requestContext"]["connectionId"], who)
    return {"statusCode": 200}


def _disconnect(event: dict[str, Any]) -> dict[str, Any]:
    realtime_service().disconnect(event["requestContext"]["connectionId"])
    return {"statusCode": 200}


def _action(event: dict[str, Any]) -> dict[str, Any]:
    context = event["requestContext"]
    frame = realtime_service().handle(
        context["connectionId"], event.get("body"), correlation_id=context.get("requestId")
    )
    return {"statusCode": 200, "body": frame.encode().decode()}


LIFECYCLE = {"$connect": _connect, "$disconnect": _disconnect}


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    route_key = event["requestContext"]["routeKey"]
    return LIFECYCLE.get(route_key, _action)(event)
