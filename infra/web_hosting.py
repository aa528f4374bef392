"""The web client on S3 behind CloudFront (context ``web_hosting``), signing in through the pool's hosted UI.

- A private bucket (public access blocked, TLS only) that CloudFront alone reads (origin access control).
- Every response carries a strict Content-Security-Policy (``csp``), HSTS, nosniff, no framing and no
  referrer; the page needs nothing inline, no other origin's script or style.
- The user pool gets a hosted-UI domain and a public app client for the authorization code grant
  (PKCE), whose callback is the distribution's URL; the API's JWT authorizer accepts its ID tokens and
  the API answers CORS for the distribution's origin.
- ``config.json`` beside ``index.html`` is written from the stack's values (API URL, hosted UI,
  client id): the page reads it, as it reads the local stack's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra import production
from infra.http_api import HttpApi
from infra.nag import acknowledge
from infra.web_policy import csp

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SCOPES = "openid profile email"


def hosted_csp(region: str, auth_origin: str, extra_origins: tuple[str, ...] = ()) -> str:
    """The policy with the APIs (execute-api, or their custom domains) and the hosted UI to connect to."""
    apis = (f"https://*.execute-api.{region}.amazonaws.com", f"wss://*.execute-api.{region}.amazonaws.com")
    return csp(*apis, auth_origin, *extra_origins)


class WebHosting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pool: cognito.UserPool,
        http: HttpApi,
        domain_prefix: str,
        api_domains: tuple[str, ...] = (),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.domain = pool.add_domain(
            "Hosted", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
        )
        auth_origin = f"https://{domain_prefix}.auth.{region}.amazoncognito.com"
        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "The site's files are public through CloudFront and only CloudFront reads the bucket; "
            "access logs would record nothing but its origin fetches.",
        )
        self.policy = hosted_csp(region, auth_origin, tuple(f"https://{d} wss://{d}" for d in api_domains))
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=self.policy, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=headers,
            ),
            default_root_object="index.html",
        )
        for rule, reason in (
            ("AwsSolutions-CFR1", "A chat client for everyone the user pool admits: no country is excluded."),
            (
                "AwsSolutions-CFR2",
                "Static files only; the APIs and the user pool have their own throttles and WAF.",
            ),
            (
                "AwsSolutions-CFR3",
                "Static files only: the APIs' access logs record every request that matters.",
            ),
            (
                "AwsSolutions-CFR4",
                "The default *.cloudfront.net certificate; a custom domain brings TLS 1.2+.",
            ),
        ):
            acknowledge(self.distribution, rule, reason)
        self.url = f"https://{self.distribution.distribution_domain_name}"
        self.client = pool.add_client(
            "WebClient",
            # a public client: the page holds no secret; the authorization code grant with PKCE
            generate_secret=False,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.PROFILE, cognito.OAuthScope.EMAIL],
                callback_urls=[f"{self.url}/"],
                logout_urls=[f"{self.url}/"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )
        self._trust(http)
        config: dict[str, Any] = {
            "api_url": http.url,  # the page strips the trailing slash
            "auth": {
                "authorize_url": f"{self.domain.base_url()}/oauth2/authorize",
                "token_url": f"{self.domain.base_url()}/oauth2/token",
                "client_id": self.client.user_pool_client_id,
                "scope": SCOPES,
                "local_sign_in": False,
            },
        }
        # index.html and config.json at the root; the scripts and styles under /static/ as the page asks
        s3deploy.BucketDeployment(
            self,
            "Static",
            sources=[s3deploy.Source.asset(str(WEB_DIR))],
            destination_bucket=self.bucket,
            destination_key_prefix="static/",
            prune=False,
        )
        s3deploy.BucketDeployment(
            self,
            "Root",
            sources=[
                s3deploy.Source.data("index.html", (WEB_DIR / "index.html").read_text()),
                s3deploy.Source.json_data("config.json", config),
            ],
            destination_bucket=self.bucket,
            prune=False,
            distribution=self.distribution,
            distribution_paths=["/*"],
        )
        site = self.bucket.node.default_child
        assert isinstance(site, s3.CfnBucket)
        self._acknowledge_deployment_handler(Stack.of(self).resolve(site.logical_id))

    def _trust(self, http: HttpApi) -> None:
        """The API takes the web client's ID tokens, and answers CORS for the site's origin."""
        (authorizer,) = [c for c in http.api.node.find_all() if isinstance(c, apigwv2.CfnAuthorizer)]
        jwt = authorizer.jwt_configuration
        assert isinstance(jwt, apigwv2.CfnAuthorizer.JWTConfigurationProperty)
        authorizer.jwt_configuration = apigwv2.CfnAuthorizer.JWTConfigurationProperty(
            audience=[*(jwt.audience or []), self.client.user_pool_client_id], issuer=jwt.issuer
        )
        api = http.api.node.default_child
        assert isinstance(api, apigwv2.CfnApi)
        current = api.cors_configuration
        if isinstance(current, apigwv2.CfnApi.CorsProperty):
            origins_now = list(current.allow_origins or [])
            api.add_property_override("CorsConfiguration.AllowOrigins", [*origins_now, self.url])
        else:
            production.cors(http, (self.url,))

    def _acknowledge_deployment_handler(self, bucket_id: str) -> None:
        """BucketDeployment's handler is CDK's own singleton function, at the stack's root."""
        copies = "CDK's BucketDeployment handler copies the site's asset objects into its bucket."
        findings = [
            f"AwsSolutions-IAM5[{finding}]"
            for finding in (
                "Resource::*",
                "Action::s3:GetBucket*",
                "Action::s3:GetObject*",
                "Action::s3:List*",
                "Action::s3:Abort*",
                "Action::s3:DeleteObject*",
                "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
                f"Resource::<{bucket_id}.Arn>/*",
            )
        ]
        basic = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        reasons = [(f, copies) for f in findings] + [
            (f"AwsSolutions-IAM4[{basic}]", "CDK's BucketDeployment handler has the basic Lambda role."),
            ("AwsSolutions-L1", "CDK's BucketDeployment handler: its runtime is the one CDK ships it with."),
            (
                "Serverless-LambdaDLQ",
                "CDK's BucketDeployment handler is a custom resource: CloudFormation retries.",
            ),
            (
                "Serverless-LambdaTracing",
                "CDK's BucketDeployment handler runs at deploy time only, not per request.",
            ),
            (
                "Serverless-LambdaDefaultMemorySize",
                "CDK's BucketDeployment handler: CDK sizes it for copying.",
            ),
            (
                "Serverless-LambdaLatestVersion",
                "CDK's BucketDeployment handler: its runtime is the one CDK ships.",
            ),
        ]
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                for rule, reason in reasons:
                    acknowledge(child, rule, reason)
