"""WebSocket $connect authorizer (REQUEST type): redeems the single-use ticket in ?ticket=.

A missing ticket raises "Unauthorized" (API Gateway answers 401); a forged, expired or reused one
gets a Deny policy (403). Either way the handshake is refused, never accepted and closed later.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from parley.observability import instrument, logger
from parley.realtime.service import TicketMissingError, TicketRejectedError
from parley.services.container import realtime_service


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
    try:
        who = realtime_service().authorize(ticket)
    except TicketMissingError as exc:
        raise PermissionError("Unauthorized") from exc
    except TicketRejectedError:
        logger.info("ticket refused")
        return _policy("Deny", resource, "anonymous", {})
    return _policy("Allow", resource, who.user_id, {"user_id": who.user_id, "name": who.name})
