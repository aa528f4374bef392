"""The HTTP API: Cognito sign-in, a JWT authorizer on every route but the public ones, throttling.

Routes are read from the api Lambda's own OpenAPI document, so a route added to the code is
deployed (and protected) without touching this file. Only ``PUBLIC_ROUTES`` (``parley.http.public``,
the list the api Lambda and the local gateway read too) skip the authorizer.
"""

from __future__ import annotations

import json
from typing import Any

import jsii
from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge
from parley.http.public import PUBLIC_PATHS, PUBLIC_ROUTES

# One JSON line per request in the access log; the request id is the flow's correlation fallback
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the api Lambda serves: its OpenAPI paths plus the public extras."""
    from parley.http.app import app  # imported here: building the resolver is the api's cold start

    schema: Any = app.get_openapi_schema()
    paths: dict[str, dict[str, Any]] = schema.model_dump(by_alias=True, exclude_none=True)["paths"]
    routes = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    return sorted(routes | PUBLIC_ROUTES)


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogs:
    """API Gateway v2 stages (HTTP and WebSocket) take access-log settings as an interface:
    one JSON line per request, with the fields given."""

    def __init__(self, group: logs.ILogGroup, fields: dict[str, str]) -> None:
        self._destination = apigwv2.LogGroupLogDestination(group)
        self._fields = fields

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(self._fields, separators=(",", ":")))


class UserPool(Construct):
    """The Cognito user pool and app client whose ID tokens the API accepts, or existing ones."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        if config.user_pool_id and config.user_pool_client_id:
            self.pool: cognito.IUserPool = cognito.UserPool.from_user_pool_id(
                self, "Pool", config.user_pool_id
            )
            self.client: cognito.IUserPoolClient = cognito.UserPoolClient.from_user_pool_client_id(
                self, "Client", config.user_pool_client_id
            )
            return
        pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # `name` becomes the display name (the ID token's name claim) that the API shows
            standard_attributes=cognito.StandardAttributes(
                fullname=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=config.deletion_protection,
            removal_policy=config.removal,
        )
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA is offered (TOTP) but not forced: a chat product lets each user choose; an operator "
            "who needs it forced passes their own pool through the user_pool_id context.",
        )
        for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
            acknowledge(
                pool,
                rule,
                "Threat protection (advanced security) needs the Plus plan, billed per active user; "
                "the default stack stays on Essentials and an existing pool can be passed instead.",
            )
        self.pool = pool
        self.client = pool.add_client(
            "Client",
            # a public client (browser, mobile, CLI): no secret; SRP for apps, admin flow for operators
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
            disable_o_auth=True,
        )


class HttpApi(Construct):
    """API Gateway HTTP API in front of the api Lambda, with a JWT authorizer and stage throttling."""

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, config: StackConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self.users = UserPool(self, "Users", config=config)
        self.authorizer = authorizers.HttpUserPoolAuthorizer(
            "Jwt", self.users.pool, user_pool_clients=[self.users.client]
        )
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=config.name("parley-http", today="Api"),
            description="Parley HTTP API",
            create_default_stage=False,
        )
        # read only when someone looks into a request, never turned into metrics: the Infrequent
        # Access class (half the ingestion price), like the api function's own group (infra/specs.py)
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.retention,
            removal_policy=config.removal,
            log_group_class=logs.LogGroupClass.INFREQUENT_ACCESS,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst
            ),
            access_log_settings=AccessLogs(access_logs, ACCESS_LOG_FORMAT),
        )
        # one invoke permission for the whole API (it is one function serving every route), not one
        # per route: the function's resource policy stays small however many routes the code adds
        integration = integrations.HttpLambdaIntegration("Lambda", handler, scope_permission_to_route=False)
        self.integration = integration
        self.routes: dict[tuple[str, str], apigwv2.HttpRoute] = {}
        for method, path in api_routes():
            public = (method, path) in PUBLIC_ROUTES
            (route,) = self.api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod(method)],
                integration=integration,
                authorizer=None if public else self.authorizer,
            )
            self.routes[(method, path)] = route
            if public:
                _public(route, method, path)
        self._catch_all(integration)

    def _catch_all(self, integration: integrations.HttpLambdaIntegration) -> None:
        """API Gateway routes by method and path, and answers what matches no route with its own 404;
        these routes hand it to the api instead, which answers 405 with ``Allow`` or its JSON 404, as
        the local stack does. ``$default`` keeps the authorizer (an anonymous request stays a free
        401); other methods on a public path stay public, as locally."""
        self.default_route = apigwv2.HttpRoute(
            self,
            "DefaultRoute",
            http_api=self.api,
            route_key=apigwv2.HttpRouteKey.DEFAULT,
            integration=integration,
            authorizer=self.authorizer,
        )
        for path in sorted(PUBLIC_PATHS):
            (route,) = self.api.add_routes(
                path=path, methods=[apigwv2.HttpMethod.ANY], integration=integration
            )
            self.routes[("ANY", path)] = route
            _public(route, "ANY", path)

    @property
    def url(self) -> str:
        return self.stage.url


def _public(route: apigwv2.HttpRoute, method: str, path: str) -> None:
    acknowledge(
        route,
        "AwsSolutions-APIG4",
        f"{method} {path} is public by design: liveness and the API's own description carry no user "
        "data (parley.http.public PUBLIC_ROUTES); other methods there get the api's 405.",
    )
