"""Parley's stack: a thin composition of one construct per capability.

State (tables), events (bus, archive, rule -> queue -> DLQ per route, schema registry), the shared
layer, the functions from the spec list, the HTTP API with Cognito, the WebSocket API with its
ticket authorizer, observability, and the extensions that ship with Parley (each through the same
``ParleyExtension`` a platform team uses for its own, with ``extension_host``). Each is built from
the definitions the code itself uses (tables, routing table, manifests, catalog, OpenAPI).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import production
from infra.account import ApiGatewayAccount
from infra.bus import Bus, RouteQueues
from infra.config import StackConfig
from infra.extensions import ExtensionHost, ShippedExtensions
from infra.functions import Functions, service_name
from infra.http_api import HttpApi
from infra.layer import SharedLayer
from infra.observability import Observability
from infra.realtime import RealTime
from infra.schemas import EventSchemas
from infra.specs import CORE_FUNCTIONS, consumer_of, core_routes, deployed_routes
from infra.storage import Storage
from infra.web_hosting import WebHosting
from parley.extensions.builtin import manifests


class ParleyStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "description", "Parley: event-driven chat backend (HTTP and WebSocket APIs, EventBridge, Lambda)"
        )
        super().__init__(scope, construct_id, **kwargs)
        config = config or StackConfig()
        self.config = config
        self.storage = Storage(
            self, "Storage", deletion_protection=config.deletion_protection, removal_policy=config.removal
        )
        self.events = Bus(
            self,
            "Events",
            routes=core_routes(),
            bus_name=config.name(),
            consumer_timeouts={
                r.name: Duration.seconds(consumer_of(r.name).timeout_seconds) for r in core_routes()
            },
        )
        self.schemas = (
            EventSchemas(self, "Schemas", registry_name=config.name()) if config.schema_registry else None
        )
        self.layer = SharedLayer(self, "Shared")
        # the WebSocket API and stage come first: their URLs are plain tokens in the functions'
        # environment, and its routes are added once the functions they integrate exist
        self.realtime = RealTime(self, "RealTime", config=config)
        self.apigateway_account: ApiGatewayAccount | None = None
        if config.apigateway_cloudwatch_role:
            # the stages' access logs need the account's role set before they are created
            self.apigateway_account = ApiGatewayAccount(self, "ApiGatewayAccount")
            self.realtime.stage.node.add_dependency(self.apigateway_account.account)
        self.functions = Functions(
            self,
            "Functions",
            specs=CORE_FUNCTIONS,
            layer=self.layer.layer,
            tables=self.storage.tables,
            bus=self.events.bus,
            routes=self.events.routes,
            streams=self.events.streams,
            log_retention=config.retention,
            log_retention_by_function=config.log_retentions,
            removal_policy=config.removal,
            websocket=self.realtime,
            reserved_concurrency_scale=config.reserved_concurrency_scale,
            ai_provider=config.ai_provider,
            ai_model_id=config.ai_model_id,
            service_prefix=config.name(),
        )
        self.realtime.add_routes(
            handler=self.functions.websocket("routes"), authorizer=self.functions.websocket("authorizer")
        )
        (api_handler,) = self.functions.http
        self.http = HttpApi(self, "Http", handler=api_handler, config=config)
        if self.apigateway_account is not None:
            self.http.stage.node.add_dependency(self.apigateway_account.account)
        production.apply(self, config, http=self.http, realtime=self.realtime)
        self.web: WebHosting | None = None
        if config.web_hosting and config.web_auth_domain_prefix:
            pool = self.http.users.pool
            assert isinstance(pool, cognito.UserPool)  # config refuses web_hosting with user_pool_id
            domains = tuple(d for d in (config.http_domain_name, config.websocket_domain_name) if d)
            self.web = WebHosting(
                self,
                "Web",
                pool=pool,
                http=self.http,
                domain_prefix=config.web_auth_domain_prefix,
                api_domains=domains,
                removal_policy=config.removal,
            )
            CfnOutput(self, "WebUrl", value=self.web.url, description="The web client (S3 + CloudFront)")
        self.observability = Observability(
            self,
            "Observability",
            functions=self.functions.functions,
            routes=self.events.routes,
            http_api=self.http.api,
            websocket_api=self.realtime.api,
            alarm_email=config.alarm_email,
        )
        self.extension_host = ExtensionHost(
            bus=self.events.bus,
            extensions_table=self.storage.tables["extensions"],
            chats_table=self.storage.tables["chats"],
            layer=self.layer.layer,
            log_retention=config.retention,
            log_retention_by_function=config.log_retentions,
            removal_policy=config.removal,
            hook_callers=[self.functions.functions[s.name] for s in CORE_FUNCTIONS if s.runs_hooks],
            backfill_callers=[self.functions.functions[s.name] for s in CORE_FUNCTIONS if s.runs_backfills],
            observability=self.observability,
            reserved_concurrency_scale=config.reserved_concurrency_scale,
            service_prefix=config.name(),
        )
        self.extension_host.export(self)  # for extensions deployed from their own CDK apps
        self.extensions = ShippedExtensions(
            self, "Extensions", host=self.extension_host, manifests=manifests()
        )
        self.observability.watch_ai_failures(service_name("ai_responder", config.name()))
        for name, stream in sorted(self.events.streams.items()):
            self.observability.watch_stream(
                name, dlq=stream.dlq, function=self.functions.functions[stream.route.function]
            )
        unbuilt = {r.name for r in deployed_routes()} - set(self.route_queues) - set(self.events.streams)
        if unbuilt:
            raise LookupError(f"routes {sorted(unbuilt)} have no rule, queue and DLQ in the stack")
        CfnOutput(self, "HttpApiUrl", value=self.http.url, description="Base URL of the HTTP API")
        CfnOutput(
            self,
            "WebSocketUrl",
            value=self.realtime.url,
            description="wss URL of the WebSocket API (connect with ?ticket= from POST /realtime/tickets)",
        )
        CfnOutput(self, "BusName", value=self.events.bus.event_bus_name, description="EventBridge bus")
        CfnOutput(
            self, "UserPoolId", value=self.http.users.pool.user_pool_id, description="Cognito user pool"
        )
        CfnOutput(
            self,
            "UserPoolClientId",
            value=self.http.users.client.user_pool_client_id,
            description="Cognito app client (audience of the JWT authorizer)",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.observability.topic.topic_arn, description="Alarm topic")

    @property
    def lambdas(self) -> dict[str, lambda_.Function]:
        """Every Parley function by spec name: the core's and the shipped extensions'."""
        found = dict(self.functions.functions)
        for extension in self.extensions.installed.values():
            assert extension.function is not None
            found[extension.function.node.id] = extension.function
        return found

    @property
    def route_queues(self) -> dict[str, RouteQueues]:
        """Every built route's rule, queue and DLQ by route name: the core's and the extensions'."""
        found = dict(self.events.routes)
        for extension in self.extensions.installed.values():
            if extension.routed is not None:
                found[extension.route.name] = extension.routed
        return found
