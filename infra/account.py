"""The account-level API Gateway setting the stages' access logs need: a CloudWatch Logs role.

API Gateway writes REST and WebSocket access logs with the role set once per account and region
(``AWS::ApiGateway::Account``); in a fresh account none is set and the WebSocket stage fails to
create. ``-c apigateway_cloudwatch_role=true`` sets it from this stack; ``make preflight`` says
whether the account already has one. Both the role and the setting are retained on ``cdk
destroy``: other APIs of the account (and the other stage) keep logging through them.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge

PUSH_TO_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class ApiGatewayAccount(Construct):
    """The role API Gateway assumes to write logs, set as this account and region's CloudWatch role."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway (account setting): writes the access logs of REST and WebSocket stages",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_LOGS_POLICY)],
        )
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            self.role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{PUSH_TO_LOGS_POLICY}]",
            "API Gateway's account-level logging role needs to create and write any of the account's "
            "API log groups; AWS maintains this managed policy for exactly that purpose.",
        )
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(RemovalPolicy.RETAIN)
