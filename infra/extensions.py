"""Extensions on AWS: one ``ParleyExtension`` call deploys one extension, shipped or a platform team's.

From the extension's manifest it builds:

- its target: a Python Lambda written with the SDK (``code``: a folder with ``handler.py``; the
  shared layer gives it the SDK), an existing SQS queue (``queue``), or an HTTPS endpoint through
  an EventBridge connection and API destination (``https_url``);
- its rule on the bus with the routing table's pattern for it (``parley.routing.extension_route``);
- for a Lambda, its own queue and DLQ (partial batch responses, visibility 6x the function's
  timeout) and reserved concurrency; for a queue or an endpoint, a target DLQ and retry policy;
- its rights, enforced by IAM as well as by the core: ``events:PutEvents`` only with its own
  ``source`` and the detail-types its capabilities allow (``Manifest.may_send``); DynamoDB only on
  its own rows of the extensions table (``dynamodb:LeadingKeys``), its context rows among them,
  and the registry (read); no core table; the functions that run hooks may invoke
  its function only if it declares one;
- its registry entry: the manifest's document, with where it runs, written into the extensions table
  at deploy (and deleted with the extension), which is what the core reads.

    from infra.extensions import ParleyExtension

    ParleyExtension(
        stack, "Translator",
        host=stack.extension_host,
        manifest=translator.extension.manifest,
        code=lambda_.Code.from_asset("extensions/translator"),
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.bus import RouteQueues, dead_letter_queue, route_rule
from infra.functions import (
    FUNCTIONS_DIR,
    acknowledge_scheduled,
    consume,
    environment,
    function_code,
    python_function,
    schedule,
)
from infra.nag import acknowledge
from infra.observability import Observability
from infra.specs import Consumes, FunctionSpec, extension_function
from parley.adapters.extensions import REGISTRY
from parley.extensions.manifest import Manifest, Target
from parley.extensions.sdk import TICK_KEY
from parley.routing import extension_route

# DynamoDB actions that always name the partition key they touch, so a dynamodb:LeadingKeys condition
# binds every call (a Scan names none, and ForAllValues would then pass vacuously: never granted)
READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
TICK_EXPRESSION = "rate(1 minute)"
"""How often an extension whose manifest sets ``tick`` is invoked with ``{TICK_KEY: <scheduled time>}``."""
REGISTRATION_TYPE = "Custom::ParleyExtensionRegistration"
REGISTRY_PROVIDER = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
_REGISTRY_LOGS_ID = "ParleyExtensionRegistryLogs"


@dataclass(frozen=True)
class ExtensionHost:
    """What a Parley stack offers every extension (``ParleyStack.extension_host``)."""

    bus: events.IEventBus
    extensions_table: dynamodb.ITable
    # no extension is granted it (they read their context rows): kept so existing callers still build
    chats_table: dynamodb.ITable
    layer: lambda_.ILayerVersion
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    # -c log_retention_by_function: an extension's function (ext_<id>) keeping its logs longer or shorter
    log_retention_by_function: Mapping[str, logs.RetentionDays] = field(default_factory=dict)
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    # the functions that call hooks (api, realtime): each may invoke exactly the hooked extensions
    hook_callers: Sequence[iam.IGrantable] = field(default_factory=tuple)
    # the functions that hand an extension asking for history a chat's past (synchronous invokes)
    backfill_callers: Sequence[iam.IGrantable] = field(default_factory=tuple)
    # alarms and a dashboard row per extension, when the stack has them
    observability: Observability | None = None
    # -c reserved_concurrency_scale: every extension's reservation times this (0: none)
    reserved_concurrency_scale: float = 1.0
    # Powertools' service names (the EMF metrics' dimension) start with it: one per stage
    service_prefix: str = "parley"

    def export(self, stack: Stack) -> None:
        """Export what an extension's own CDK app needs (``from_exports``): the bus, the tables, the
        shared layer and the stage's service prefix, as ``<stack name>-Parley<Name>``."""
        values = {
            "BusArn": self.bus.event_bus_arn,
            "ExtensionsTableArn": self.extensions_table.table_arn,
            "ChatsTableArn": self.chats_table.table_arn,
            "LayerArn": self.layer.layer_version_arn,
            "ServicePrefix": self.service_prefix,
        }
        for name, value in values.items():
            CfnOutput(
                stack,
                f"Parley{name}",
                value=value,
                export_name=f"{stack.stack_name}-Parley{name}",
                description=f"{name}, for extensions in their own CDK apps (ExtensionHost.from_exports)",
            )

    @classmethod
    def from_exports(cls, scope: Construct, parley_stack: str) -> ExtensionHost:
        """The host of a deployed Parley stack, by its name, for an extension in another CDK app (same
        account and region). Hooks are not offered there: the core's functions are granted invoke only
        on extensions of their own app."""

        def imported(name: str) -> str:
            return Fn.import_value(f"{parley_stack}-Parley{name}")

        return cls(
            bus=events.EventBus.from_event_bus_arn(scope, "ParleyBus", imported("BusArn")),
            extensions_table=dynamodb.Table.from_table_arn(
                scope, "ParleyExtensionsTable", imported("ExtensionsTableArn")
            ),
            chats_table=dynamodb.Table.from_table_arn(scope, "ParleyChatsTable", imported("ChatsTableArn")),
            layer=lambda_.LayerVersion.from_layer_version_arn(scope, "ParleyLayer", imported("LayerArn")),
            service_prefix=imported("ServicePrefix"),
        )


class ParleyExtension(Construct):
    """One extension, from its manifest, with exactly one target: ``code``, ``queue`` or ``https_url``.

    ``code`` is a folder holding ``handler.py`` whose ``lambda_handler`` is the SDK's
    (``extension.lambda_handler``); the shared layer provides the SDK. ``spec`` overrides the
    function's memory, timeout or reserved concurrency (default: ``infra.specs.extension_function``).
    An ``https_url`` needs ``https_authorization`` (an ``events.Authorization``: API key, basic or
    OAuth) for its EventBridge connection. Hooks are synchronous invokes of a function, so only a
    ``code`` extension may declare them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        host: ExtensionHost,
        manifest: Manifest,
        code: lambda_.Code | None = None,
        queue: sqs.IQueue | None = None,
        https_url: str | None = None,
        https_authorization: events.Authorization | None = None,
        https_rate_limit_per_second: int | None = None,
        spec: FunctionSpec | None = None,
        handler: str = "handler.lambda_handler",
    ) -> None:
        super().__init__(scope, construct_id)
        given = [
            name for name, value in (("code", code), ("queue", queue), ("https_url", https_url)) if value
        ]
        if len(given) != 1:
            raise ValueError(
                f"extension {manifest.id}: give exactly one target (code, queue or https_url), got {given}"
            )
        hooked = manifest.hooks.any
        if hooked and code is None:
            raise ValueError(
                f"extension {manifest.id} declares a hook: hooks are synchronous invokes of its function, "
                "so it needs `code`"
            )
        self.manifest = manifest
        self.host = host
        self.route = extension_route(manifest.document(), reserved_concurrency=manifest.reserved_concurrency)
        self.function: lambda_.Function | None = None
        self.queue: sqs.IQueue | None = None
        # a Lambda extension's own rule, queue and DLQ (None for a queue or endpoint target)
        self.routed: RouteQueues | None = None
        if code is not None:
            routed = self.routed = self._lambda(code, spec or extension_function(manifest), handler)
            self.rule, self.dlq, self.queue = routed.rule, routed.dlq, routed.queue
            assert self.function is not None
            target = Target(kind="lambda", function=self.function.function_name)
        else:
            self.dlq = dead_letter_queue(self)
            acknowledge(
                self.dlq,
                "AwsSolutions-SQS3",
                "This queue is a dead-letter queue: the rule target's (DeadLetterConfig), where EventBridge "
                "puts what it could not deliver; cdk-nag only recognizes queues named in a redrive policy.",
            )
            if queue is not None:
                self.queue = queue
                rule_target: events.IRuleTarget = targets.SqsQueue(
                    queue,
                    dead_letter_queue=self.dlq,
                    retry_attempts=self._retries,
                    max_event_age=self._max_event_age,
                )
                target = Target(kind="queue")
            else:
                assert https_url is not None
                rule_target = self._https(https_url, https_authorization, https_rate_limit_per_second)
                target = Target(kind="https", url=https_url)
            self.rule = route_rule(self, "Rule", bus=host.bus, route=self.route, target=rule_target)
        self.registration = self._register(target)
        if host.observability is not None:
            host.observability.watch_extension(
                self.route.name,
                dlq=self.dlq,
                queue=self.queue if code is not None else None,
                function=self.function,
                extension_id=self.manifest.id,
            )

    # -- rights ------------------------------------------------------------------------------------

    def grant_put_events(self, grantee: iam.IGrantable) -> iam.Grant:
        """``events:PutEvents`` on the bus, only as this extension and only its allowed detail-types.

        EventBridge authorizes each entry of a PutEvents call on its own, so both keys hold one value
        per check: ``StringEquals`` matches it against the list, and fails when a key is missing."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["events:PutEvents"],
            resource_arns=[self.host.bus.event_bus_arn],
            conditions={
                "StringEquals": {
                    "events:source": self.manifest.source,
                    "events:detail-type": list(self.manifest.may_send),
                }
            },
        )

    def grant_state(self, grantee: iam.IGrantable) -> None:
        """Its own rows of the extensions table (``<id>#<chat id>``: its state, delivery claims and the
        context rows the core writes for it) and the registry, read-only. No core table: what it may
        know of a chat is in its context row (``parley.domain.contexts``)."""
        own = f"{self.manifest.id}#*"
        table = self.host.extensions_table.table_arn
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(READ_ACTIONS),
            resource_arns=[table],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [own, REGISTRY]}},
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(WRITE_ACTIONS),
            resource_arns=[table],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [own]}},
        )

    # -- targets -----------------------------------------------------------------------------------

    def _lambda(self, code: lambda_.Code, spec: FunctionSpec, handler: str) -> RouteQueues:
        if spec.extension != self.manifest.id or spec.trigger != Consumes(self.route.name):
            raise ValueError(
                f"extension {self.manifest.id}: its spec must be extension_function(manifest) or a "
                f"replace() of it (extension={self.manifest.id!r}, trigger=Consumes({self.route.name!r}))"
            )
        table_names = {"extensions": self.host.extensions_table.table_name}
        function = python_function(
            self,
            spec,
            code=code,
            handler=handler,
            layer=self.host.layer,
            environment=environment(
                spec, table_names, self.host.bus.event_bus_name, service_prefix=self.host.service_prefix
            ),
            log_retention=self.host.log_retention_by_function.get(spec.name, self.host.log_retention),
            removal_policy=self.host.removal_policy,
            reserved_concurrency_scale=self.host.reserved_concurrency_scale,
            scheduled=self.manifest.tick,
        )
        self.function = function
        if self.manifest.tick:
            # the time the tick is for, not when it happens to run: a late invoke still ticks its minute
            when = scheduler.ContextAttribute.scheduled_time
            schedule(self, spec.name, function, TICK_EXPRESSION, payload={TICK_KEY: when})
            acknowledge_scheduled(function)
        assert function.role is not None
        self.grant_put_events(function.role)
        self.grant_state(function.role)
        routed = RouteQueues(
            self,
            "Route",
            bus=self.host.bus,
            route=self.route,
            function_timeout=Duration.seconds(spec.timeout_seconds),
        )
        consume(
            function,
            self.route,
            routed.queue,
            reserved_concurrency_scale=self.host.reserved_concurrency_scale,
        )
        hooked = self.manifest.hooks.any
        callers = [
            *(self.host.hook_callers if hooked else ()),
            *(self.host.backfill_callers if self.manifest.backfill else ()),
        ]
        for caller in callers:
            # the function itself (unqualified), which is what the hook invoker calls by name
            iam.Grant.add_to_principal(
                grantee=caller, actions=["lambda:InvokeFunction"], resource_arns=[function.function_arn]
            )
        return routed

    @property
    def _retries(self) -> int:
        """EventBridge's own retries, for targets without a queue of ours in between (the route's
        ``max_attempts`` counts the first delivery too)."""
        return self.route.retry.max_attempts - 1

    @property
    def _max_event_age(self) -> Duration:
        return Duration.seconds(self.route.retry.max_event_age_seconds)

    def _https(
        self, url: str, authorization: events.Authorization | None, rate_limit: int | None
    ) -> events.IRuleTarget:
        if authorization is None:
            raise ValueError(
                f"extension {self.manifest.id}: an HTTPS endpoint needs https_authorization for its "
                "EventBridge connection, e.g. events.Authorization.api_key(header, SecretValue...)"
            )
        if not Token.is_unresolved(url) and not url.startswith("https://"):
            raise ValueError(f"extension {self.manifest.id}: {url!r} is not an https:// URL")
        connection = events.Connection(
            self,
            "Connection",
            authorization=authorization,
            description=f"parley extension {self.manifest.id}",
        )
        destination = events.ApiDestination(
            self,
            "Destination",
            connection=connection,
            endpoint=url,
            http_method=events.HttpMethod.POST,
            rate_limit_per_second=rate_limit,
            description=f"parley extension {self.manifest.id}: {self.manifest.description}"[:512],
        )
        return targets.ApiDestination(
            destination,
            dead_letter_queue=self.dlq,
            retry_attempts=self._retries,
            max_event_age=self._max_event_age,
        )

    # -- registry ----------------------------------------------------------------------------------

    def _register(self, target: Target) -> cr.AwsCustomResource:
        """The registry row (``pk = "registry"``, ``sk = <id>``) holding the manifest's document with
        where it runs, put at deploy and on every change, deleted with the extension."""
        table = self.host.extensions_table
        key = {"pk": {"S": REGISTRY}, "sk": {"S": self.manifest.id}}
        document = self.manifest.document(target=target).model_dump_json()
        put = cr.AwsSdkCall(
            service="DynamoDB",
            action="putItem",
            parameters={"TableName": table.table_name, "Item": {**key, "data": {"S": document}}},
            physical_resource_id=cr.PhysicalResourceId.of(f"{REGISTRY}/{self.manifest.id}"),
        )
        registration = cr.AwsCustomResource(
            self,
            "Registration",
            resource_type=REGISTRATION_TYPE,
            on_create=put,
            on_update=put,
            on_delete=cr.AwsSdkCall(
                service="DynamoDB",
                action="deleteItem",
                parameters={"TableName": table.table_name, "Key": key},
            ),
            # the registry writer may touch the registry rows only, never an extension's own rows
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
                        resources=[table.table_arn],
                        conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [REGISTRY]}},
                    )
                ]
            ),
            # the SDK bundled with CDK: nothing is downloaded at deploy
            install_latest_aws_sdk=False,
            log_group=_registry_logs(self, self.host),
            memory_size=256,
            timeout=Duration.minutes(2),
        )
        _acknowledge_registry_provider(Stack.of(self))
        return registration


def _registry_logs(scope: Construct, host: ExtensionHost) -> logs.ILogGroup:
    """One log group for the stack's registry writer (one provider function serves every extension)."""
    stack = Stack.of(scope)
    found = stack.node.try_find_child(_REGISTRY_LOGS_ID)
    if isinstance(found, logs.LogGroup):
        return found
    return logs.LogGroup(
        stack, _REGISTRY_LOGS_ID, retention=host.log_retention, removal_policy=host.removal_policy
    )


def _acknowledge_registry_provider(stack: Stack) -> None:
    """cdk-nag's findings on CDK's AwsCustomResource provider, a stack-wide singleton function."""
    provider = stack.node.try_find_child(REGISTRY_PROVIDER)
    if provider is None or any(m.type == "aws:cdk:acknowledged-rules" for m in provider.node.metadata):
        return  # not created, or acknowledged by an earlier extension of this stack
    basic_execution = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    reasons = {
        f"AwsSolutions-IAM4[Policy::{basic_execution}]": (
            "CDK's AwsCustomResource provider (the registry writer, run only at deploy) comes with the "
            "basic execution role for its logs; its DynamoDB rights are the registry rows alone."
        ),
        "Serverless-LambdaTracing": (
            "The registry writer runs once per deploy and extension, inside CloudFormation, whose "
            "stack events record each call; X-Ray would add nothing but cost."
        ),
        "Serverless-LambdaDLQ": (
            "CloudFormation invokes the registry writer and waits for its answer; a failure fails "
            "(and rolls back) the deploy, so there is nothing to dead-letter."
        ),
    }
    for rule, reason in reasons.items():
        acknowledge(provider, rule, reason)


class ShippedExtensions(Construct):
    """The extensions that ship with Parley (``parley.extensions.builtin``), one ``ParleyExtension``
    each, from their manifests and their ``functions/ext_<id>/`` folders: the same call a platform
    team makes for its own."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        host: ExtensionHost,
        manifests: Sequence[Manifest] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.installed: dict[str, ParleyExtension] = {}
        for manifest in manifests:
            spec = extension_function(manifest)
            if not (FUNCTIONS_DIR / spec.name / "handler.py").is_file():
                raise FileNotFoundError(f"extension {manifest.id}: no functions/{spec.name}/handler.py")
            self.installed[manifest.id] = ParleyExtension(
                self, manifest.id, host=host, manifest=manifest, code=function_code(spec.name), spec=spec
            )
