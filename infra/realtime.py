"""The WebSocket API: a ticket-authorized $connect, and one route per action the realtime code serves.

The API and its stage are built before the functions (``RealTime``), so the functions that hand
out or push to its URLs get them as plain tokens; the routes are added once the realtime and
authorizer functions exist (``RealTime.add_routes``). The action routes come from
``parley.realtime.frames.ACTIONS``, so an action added to the code is never left without a route.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StackConfig
from infra.http_api import AccessLogs
from infra.nag import acknowledge
from parley.realtime.frames import ACTIONS

STAGE_NAME = "live"
ROUTE_SELECTION = "$request.body.action"
# the single-use ticket from POST /realtime/tickets, in the handshake's query string
TICKET_SOURCE = "route.request.querystring.ticket"

# One JSON line per frame or handshake; connectionId ties a socket's lines together
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "status": "$context.status",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


class RealTime(Construct):
    """API Gateway WebSocket API with an auto-deployed, throttled, access-logged stage."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=config.name("parley-websocket", today="Api"),
            description="Parley real-time WebSocket API",
            route_selection_expression=ROUTE_SELECTION,
        )
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=config.retention, removal_policy=config.removal
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.websocket_throttle_rate, burst_limit=config.websocket_throttle_burst
            ),
            access_log_settings=AccessLogs(access_logs, ACCESS_LOG_FORMAT),
        )
        self.routes: dict[str, apigwv2.WebSocketRoute] = {}

    @property
    def url(self) -> str:
        """The wss:// URL clients connect to (with ``?ticket=``)."""
        return self.stage.url

    @property
    def management_url(self) -> str:
        """The https:// callback URL of the management API (@connections) pushers post to."""
        return self.stage.callback_url

    def grant_push(self, grantee: iam.IRole) -> None:
        """execute-api:ManageConnections on this stage's @connections only (callers: pushers)."""
        self.stage.grant_management_api_access(grantee)
        api_id = Stack.of(self).resolve(self.api.api_id)["Ref"]
        acknowledge(
            grantee,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
            f"<{api_id}>/{STAGE_NAME}/*/@connections/*]",
            "A pusher posts to (and closes) connections whose ids are only known at run time; the grant is "
            "scoped to this API's stage and its @connections resource.",
        )

    def add_routes(self, *, handler: lambda_.IFunction, authorizer: lambda_.IFunction) -> None:
        """$connect behind the ticket authorizer, then $disconnect, $default and every action."""
        integration = integrations.WebSocketLambdaIntegration("Realtime", handler)
        ticket = authorizers.WebSocketLambdaAuthorizer("Ticket", authorizer, identity_source=[TICKET_SOURCE])
        self.routes["$connect"] = self.api.add_route("$connect", integration=integration, authorizer=ticket)
        self.routes["$disconnect"] = self.api.add_route("$disconnect", integration=integration)
        # action routes answer with the reply frame the handler returns; $default's reply is the
        # error frame naming an unknown action, so the client learns why nothing happened
        for key in ("$default", *ACTIONS):
            self.routes[key] = self.api.add_route(key, integration=integration, return_response=True)
        for key, route in self.routes.items():
            if key == "$connect":
                continue
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                f"{key} rides an already authorized connection: API Gateway runs WebSocket "
                "authorizers on $connect only, where the ticket is redeemed (the handler then acts "
                "as the user the authorizer named).",
            )
