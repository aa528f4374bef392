"""WebSocket $connect authorizer (REQUEST type): redeems the single-use ticket in ?ticket=.

A missing ticket raises "Unauthorized" (API Gateway answers 401); a forged, expired or reused one
gets a Deny policy (403). Either way the handshake is refused, never accepted and closed later.

It runs before every handshake, so it imports only what redeeming a ticket needs (the connection
adapter and its tables), not the composition root (parley.root): no event catalog, chat service or AI code in
its cold start (`make bench` measures it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.adapters import tables
from parley.adapters.connections import ConnectionRepository
from parley.clock import utc_now
from parley.observability import instrument, logger
from parley.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

connections = ConnectionRepository()


def _policy(effect: str, resource: str, principal: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


@instrument()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ticket = (event.get("queryStringParameters") or {}).get("ticket")
    resource = event.get("methodArn", "*")
    if not ticket:
        raise PermissionError("Unauthorized")
    tables.bind(settings())  # a no-op once bound: names and region come from the settings
    redeemed = connections.redeem_ticket(ticket, now=utc_now())
    if redeemed is None:
        logger.info("ticket refused")
        return _policy("Deny", resource, "anonymous", {})
    user_id, name = redeemed
    return _policy("Allow", resource, user_id, {"user_id": user_id, "name": name})
