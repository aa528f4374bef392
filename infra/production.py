"""Production options over the built stack, each off unless its context setting is given.

CORS on the HTTP API, the user pool's self sign-up and SES e-mail, custom domains for both APIs,
and a WAF web ACL on the user pool. They adjust the resources the constructs made (through their
CloudFormation properties), so the constructs stay as they are for the default stack.

AWS WAF protects REST APIs, not HTTP or WebSocket APIs; its web ACL here guards the user pool's
sign-up and sign-in. For the APIs themselves, front the custom domains with CloudFront and a
CloudFront-scoped web ACL (docs/deploy.md, Production options).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StackConfig
from infra.http_api import HttpApi
from infra.nag import acknowledge
from infra.realtime import RealTime
from parley.http.context import CORRELATION_HEADER

CORS_HEADERS = ("authorization", "content-type", CORRELATION_HEADER)
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CORS_EXPOSED = ("retry-after", CORRELATION_HEADER)
CORS_MAX_AGE = Duration.minutes(10)


def cors(http: HttpApi, origins: tuple[str, ...]) -> None:
    """API Gateway answers the browsers' preflights for these origins (bearer tokens: no credentials)."""
    api = http.api.node.default_child
    assert isinstance(api, apigwv2.CfnApi)
    api.cors_configuration = apigwv2.CfnApi.CorsProperty(
        allow_origins=list(origins),
        allow_headers=list(CORS_HEADERS),
        allow_methods=list(CORS_METHODS),
        expose_headers=list(CORS_EXPOSED),
        max_age=int(CORS_MAX_AGE.to_seconds()),
        allow_credentials=False,
    )
    # the $default route would take the browsers' preflights (which carry no token) to the authorizer:
    # this route, ahead of $default, takes them to the api, which answers 204 (AWS's documented way)
    (preflight,) = http.api.add_routes(
        path="/{proxy+}", methods=[apigwv2.HttpMethod.OPTIONS], integration=http.integration
    )
    acknowledge(
        preflight,
        "AwsSolutions-APIG4",
        "CORS preflights carry no token by the browsers' rules; the api answers them with an empty 204.",
    )


def user_pool(scope: Construct, pool: cognito.IUserPool, config: StackConfig) -> None:
    """Self sign-up off, e-mail through SES, a WAF web ACL: on the pool the stack created."""
    if not isinstance(pool, cognito.UserPool):
        return  # user_pool_id: config refuses these options with an existing pool
    cfn = pool.node.default_child
    assert isinstance(cfn, cognito.CfnUserPool)
    if not config.self_sign_up:
        cfn.add_property_override("AdminCreateUserConfig.AllowAdminCreateUserOnly", True)
    if config.cognito_ses_from_email:
        stack = Stack.of(scope)
        cfn.add_property_override(
            "EmailConfiguration",
            {
                "EmailSendingAccount": "DEVELOPER",
                "From": config.cognito_ses_from_email,
                "SourceArn": stack.format_arn(
                    service="ses",
                    region=config.cognito_ses_region or stack.region,
                    resource="identity",
                    resource_name=config.cognito_ses_from_email,
                ),
            },
        )
    if config.waf_web_acl_arn:
        wafv2.CfnWebACLAssociation(
            scope, "UserPoolWebAcl", resource_arn=pool.user_pool_arn, web_acl_arn=config.waf_web_acl_arn
        )


def custom_domain(
    scope: Construct,
    construct_id: str,
    *,
    domain_name: str,
    certificate_arn: str,
    api: apigwv2.IApi,
    stage: apigwv2.IStage,
) -> apigwv2.DomainName:
    """A regional custom domain mapped to the API's stage, with the DNS target as an output."""
    domain = apigwv2.DomainName(
        scope,
        f"{construct_id}Domain",
        domain_name=domain_name,
        certificate=acm.Certificate.from_certificate_arn(
            scope, f"{construct_id}Certificate", certificate_arn
        ),
    )
    apigwv2.ApiMapping(scope, f"{construct_id}Mapping", api=api, domain_name=domain, stage=stage)
    CfnOutput(
        scope,
        f"{construct_id}DomainTarget",
        value=domain.regional_domain_name,
        description=f"CNAME (or alias) {domain_name} to this",
    )
    return domain


def apply(scope: Construct, config: StackConfig, *, http: HttpApi, realtime: RealTime) -> None:
    """Every production option the context gives, on the stack's APIs and user pool."""
    if config.cors_allowed_origins:
        cors(http, config.cors_allowed_origins)
    user_pool(scope, http.users.pool, config)
    if config.http_domain_name and config.http_certificate_arn:
        custom_domain(
            scope,
            "Http",
            domain_name=config.http_domain_name,
            certificate_arn=config.http_certificate_arn,
            api=http.api,
            stage=http.stage,
        )
    if config.websocket_domain_name and config.websocket_certificate_arn:
        custom_domain(
            scope,
            "WebSocket",
            domain_name=config.websocket_domain_name,
            certificate_arn=config.websocket_certificate_arn,
            api=realtime.api,
            stage=realtime.stage,
        )
