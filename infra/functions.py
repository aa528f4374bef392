"""Every core Lambda function, created in one loop from ``infra.specs.CORE_FUNCTIONS``.

Runtime, architecture, layer, tracing, JSON logs, log levels and log retention are set here once
for all, in ``python_function`` (tracing and levels as ``infra.specs.FunctionSpec`` derives them from
the trigger), which the extensions' functions (``infra.extensions``) are built with too.
Each function gets its own role holding only what its spec lists (``grant_*``), the settings
its code reads (the aliases of ``parley.settings.Settings``), and the trigger its spec names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bus import RouteQueues, StreamRoute
from infra.config import is_inference_profile, profile_model, scale_reservation
from infra.layer import ARCHITECTURE, RUNTIME
from infra.layer_build import LAMBDA_PYTHON
from infra.nag import acknowledge
from infra.specs import Consumes, Every, FunctionSpec, Http, WebSocket
from parley.adapters.tables import TABLES
from parley.adapters.tables import spec as table_spec
from parley.routing import Route
from parley.settings import Settings
from parley.topology import route

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
METRICS_NAMESPACE = "Parley"

assert RUNTIME.name == f"python{LAMBDA_PYTHON}", "the layer is built for another Python than the runtime"


def _alias(setting: str) -> str:
    return Settings.env_name(setting)


TABLE_SETTING = {table.key: _alias(table.setting) for table in TABLES}
BUS_SETTING = _alias("bus_name")
INDEXED_TABLES = frozenset(table.key for table in TABLES if table_spec(table)["indexes"])
KNOWN_SETTINGS = frozenset(Settings.env_names().values())
WEBSOCKET_URL_SETTING = _alias("websocket_url")
MANAGEMENT_URL_SETTING = _alias("websocket_management_url")
HOOK_INVOKER_SETTING = _alias("hook_invoker")
AI_PROVIDER_SETTING = _alias("ai_provider")
AI_MODEL_SETTING = _alias("ai_default_model")
# Bedrock's streaming call on any foundation model: which model is each AI participant's own setting
BEDROCK_ACTIONS = ("bedrock:InvokeModelWithResponseStream",)


class WebSocketEndpoints(Protocol):
    """What functions need from the WebSocket API (``infra.realtime.RealTime``), built before them."""

    @property
    def url(self) -> str: ...

    @property
    def management_url(self) -> str: ...

    def grant_push(self, grantee: iam.IRole) -> None: ...


def service_name(function: str, prefix: str = "parley") -> str:
    """Powertools' service: the ``service`` dimension of the function's EMF metrics (one per stage)."""
    return f"{prefix}-{function}"


def environment(
    spec: FunctionSpec,
    table_names: Mapping[str, str],
    bus_name: str,
    websocket: WebSocketEndpoints | None = None,
    service_prefix: str = "parley",
) -> dict[str, str]:
    """The function's environment: Powertools wiring, the names of what it may touch, its extras."""
    unknown = [k for k in spec.env if k not in KNOWN_SETTINGS and not k.startswith("POWERTOOLS_")]
    if unknown:
        raise ValueError(f"{spec.name}: {unknown} are not settings (parley.settings.Settings aliases)")
    env = {
        "POWERTOOLS_SERVICE_NAME": service_name(spec.name, service_prefix),
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        # responses hold chat messages: keep them out of X-Ray (privacy, and the 64 KB segment limit)
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }
    if not spec.traced:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # no active tracing: no segments to add to
    env.update({TABLE_SETTING[key]: table_names[key] for key in sorted(spec.tables)})
    if spec.puts_events:
        env[BUS_SETTING] = bus_name
    if spec.knows_websocket_url or spec.pushes_to_websockets:
        if websocket is None:
            raise ValueError(f"{spec.name} uses the WebSocket API, but the stack gave none")
        if spec.knows_websocket_url:
            env[WEBSOCKET_URL_SETTING] = websocket.url
        if spec.pushes_to_websockets:
            env[MANAGEMENT_URL_SETTING] = websocket.management_url
    if spec.runs_hooks or spec.runs_backfills:
        # hooks (and backfills) are synchronous invokes of the extension's function, by the name in
        # its registry entry
        env[HOOK_INVOKER_SETTING] = "lambda"
    env.update(spec.env)
    return env


def ai_environment(provider: str | None, model_id: str | None) -> dict[str, str]:
    """The AI settings of a Bedrock-calling function from context: only those given (else the code's)."""
    env = {}
    if provider:
        env[AI_PROVIDER_SETTING] = provider
    if model_id:
        env[AI_MODEL_SETTING] = model_id
    return env


def bedrock_profile_grant(scope: Construct, profile: str) -> tuple[iam.PolicyStatement, list[str]]:
    """The streaming action on an inference profile and on its model in every region it may route
    to (AWS changes a geography's regions, so any region), with the cdk-nag findings that makes."""
    stack = Stack.of(scope)
    profile_arn = (
        profile
        if profile.startswith("arn:")
        else stack.format_arn(
            service="bedrock", region="*", resource="inference-profile", resource_name=profile
        )
    )
    model = profile_model(profile)
    model_arn = stack.format_arn(
        service="bedrock", region="*", account="", resource="foundation-model", resource_name=model
    )
    findings = [f"Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{model}"]
    if not profile.startswith("arn:"):
        findings.append(
            f"Resource::arn:<AWS::Partition>:bedrock:*:<AWS::AccountId>:inference-profile/{profile}"
        )
    statement = iam.PolicyStatement(actions=list(BEDROCK_ACTIONS), resources=[profile_arn, model_arn])
    return statement, findings


def python_function(
    scope: Construct,
    spec: FunctionSpec,
    *,
    code: lambda_.Code,
    layer: lambda_.ILayerVersion,
    environment: Mapping[str, str],
    log_retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    handler: str = "handler.lambda_handler",
    reserved_concurrency_scale: float = 1.0,
    scheduled: bool = False,
) -> lambda_.Function:
    """One function of ``spec`` in ``scope``, with its own role and log group: the one place that
    sets runtime, architecture, layer, tracing, logging and the findings every function shares.
    ``scheduled``: also invoked by a schedule (an extension's tick), as an ``Every`` function is."""
    log_group = logs.LogGroup(
        scope,
        f"{spec.name}-Logs",
        retention=log_retention,
        removal_policy=removal_policy,
        log_group_class=getattr(logs.LogGroupClass, spec.log_class),
    )
    role = iam.Role(
        scope,
        f"{spec.name}-Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"parley {spec.name}: only what infra/specs.py lists",
    )
    log_group.grant_write(role)
    scheduled = scheduled or isinstance(spec.trigger, Every)
    function = lambda_.Function(
        scope,
        spec.name,
        description=spec.description,
        code=code,
        handler=handler,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        memory_size=spec.memory_mb,
        timeout=Duration.seconds(spec.timeout_seconds),
        reserved_concurrent_executions=scale_reservation(
            spec.reserved_concurrency, reserved_concurrency_scale
        ),
        layers=[layer],
        role=role,
        environment=dict(environment),
        tracing=lambda_.Tracing.ACTIVE if spec.traced else lambda_.Tracing.DISABLED,
        logging_format=lambda_.LoggingFormat.JSON,
        # per-event INFO chatter of consumers is dropped (infra/specs.py says which)
        application_log_level_v2=getattr(lambda_.ApplicationLogLevel, spec.application_log_level),
        # INFO keeps the platform's REPORT line (init duration, memory used) where people wait on it
        system_log_level_v2=getattr(lambda_.SystemLogLevel, spec.system_log_level),
        log_group=log_group,
        # a failed scheduled run is retried by the next one; Lambda's own async retries
        # would only pile runs on top of each other
        retry_attempts=0 if scheduled else None,
        max_event_age=Duration.minutes(1) if scheduled else None,
    )
    if spec.traced:
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource-level permissions, so "
            "tracing (on for the api) needs Resource *.",
        )
    else:
        acknowledge(
            function,
            "Serverless-LambdaTracing",
            "Not traced on purpose (cost: a trace per event and consumer): its logs carry each "
            "event's correlation id, and Lambda's metrics its errors and durations; the api is traced.",
        )
    for rule in ("AwsSolutions-L1", "Serverless-LambdaLatestVersion"):
        acknowledge(
            function,
            rule,
            f"Python {LAMBDA_PYTHON} is the runtime the shared layer's wheels and bytecode are built "
            "for (infra/layer_build.py); moving to a newer one is a deliberate change of both.",
        )
    if not scheduled:
        acknowledge(
            function,
            "Serverless-LambdaDLQ",
            "Not invoked asynchronously: the APIs and hooks wait for the answer, and queue consumers "
            "dead-letter through their route's SQS redrive policy.",
        )
    return function


def consume(
    function: lambda_.Function, route: Route, queue: sqs.IQueue, *, reserved_concurrency_scale: float = 1.0
) -> None:
    """Feed ``function`` from its route's queue, with partial batch responses and the route's batch size.

    With reserved concurrency, the poller is held to it (``MaximumConcurrency``, 2 at least): more
    pollers than the function may run would be throttled, and each throttle counts as a receive on
    the way to the DLQ."""
    reserved = scale_reservation(route.reserved_concurrency, reserved_concurrency_scale)
    function.add_event_source(
        sources.SqsEventSource(
            queue,
            batch_size=route.batch_size,
            report_batch_item_failures=True,
            max_concurrency=reserved if reserved is not None and reserved >= 2 else None,
        )
    )
    acknowledge(
        function,
        "Serverless-LambdaEventSourceMappingDestination",
        "SQS event sources take no on-failure destination; a record that keeps failing is "
        "moved to the route's DLQ by the queue's redrive policy (alarmed in observability).",
    )


def consume_stream(function: lambda_.Function, route: Route, table: dynamodb.ITable, dlq: sqs.IQueue) -> None:
    """Feed ``function`` from the events table's stream: new rows of the route's event types, in
    order per shard. A failure hands its record and the ones after it back (batch item failures);
    a batch that keeps failing is halved until the failing record is alone, and after the route's
    attempts its position goes to the DLQ: no record blocks the shard for longer than that.

    From the stream's oldest record: on a first deploy a few hours of events may be handed over
    again (consumers deduplicate on event_id); from the latest, a row written between the api's
    update and the mapping's creation would never be published."""
    function.add_event_source(
        sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=route.batch_size,
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=route.retry.max_attempts,
            max_record_age=Duration.seconds(route.retry.max_event_age_seconds),
            on_failure=sources.SqsDlq(dlq),
            filters=[lambda_.FilterCriteria.filter(route.stream_filter)],
        )
    )


class Functions(Construct):
    """The functions of ``specs``, with their roles, log groups and non-HTTP triggers.

    HTTP- and WebSocket-triggered functions are exposed (``http``, ``websocket``) for the API
    constructs to integrate; the WebSocket API's URLs and push grant come in as ``websocket``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: tuple[FunctionSpec, ...],
        layer: lambda_.ILayerVersion,
        tables: Mapping[str, dynamodb.TableV2],
        bus: events.IEventBus,
        routes: Mapping[str, RouteQueues],
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        streams: Mapping[str, StreamRoute] | None = None,
        log_retention_by_function: Mapping[str, logs.RetentionDays] | None = None,
        websocket: WebSocketEndpoints | None = None,
        reserved_concurrency_scale: float = 1.0,
        ai_provider: str | None = None,
        ai_model_id: str | None = None,
        service_prefix: str = "parley",
    ) -> None:
        super().__init__(scope, construct_id)
        self.reserved_concurrency_scale = reserved_concurrency_scale
        self.ai_model_id = ai_model_id
        self.functions: dict[str, lambda_.Function] = {}
        self.specs = {spec.name: spec for spec in specs}
        self._streams = dict(streams or {})
        self._events_table = tables.get("events")
        table_names = {key: table.table_name for key, table in tables.items()}
        for spec in specs:
            if spec.extension is not None:
                raise ValueError(f"{spec.name} is extension {spec.extension}'s: infra.extensions deploys it")
            if not (FUNCTIONS_DIR / spec.name / "handler.py").is_file():
                raise FileNotFoundError(f"{spec.name}: no functions/{spec.name}/handler.py")
            function = python_function(
                self,
                spec,
                code=function_code(spec.name),
                layer=layer,
                environment={
                    **environment(spec, table_names, bus.event_bus_name, websocket, service_prefix),
                    **(ai_environment(ai_provider, ai_model_id) if spec.invokes_bedrock else {}),
                },
                log_retention=(log_retention_by_function or {}).get(spec.name, log_retention),
                removal_policy=removal_policy,
                reserved_concurrency_scale=reserved_concurrency_scale,
            )
            role = function.role
            assert role is not None
            self._grant(spec, role, tables, bus)
            if spec.invokes_bedrock and ai_model_id and is_inference_profile(ai_model_id):
                statement, findings = bedrock_profile_grant(self, ai_model_id)
                role.add_to_principal_policy(statement)
                for finding in findings:
                    acknowledge(
                        role,
                        f"AwsSolutions-IAM5[{finding}]",
                        "A cross-region inference profile routes each call to its model in one of its "
                        "geography's regions, which AWS may extend; the grant names the one model.",
                    )
            if spec.pushes_to_websockets:
                assert websocket is not None  # environment() has refused the spec otherwise
                websocket.grant_push(role)
            self._trigger(spec, function, routes)
            self._acknowledge(spec, function, role, tables)
            self.functions[spec.name] = function

    @property
    def http(self) -> list[lambda_.Function]:
        return [self.functions[n] for n, s in self.specs.items() if isinstance(s.trigger, Http)]

    def websocket(self, part: Literal["routes", "authorizer"]) -> lambda_.Function:
        """The one function serving ``part`` ("routes" or "authorizer") of the WebSocket API."""
        (found,) = [
            self.functions[n]
            for n, s in self.specs.items()
            if isinstance(s.trigger, WebSocket) and s.trigger.part == part
        ]
        return found

    @staticmethod
    def _grant(
        spec: FunctionSpec, role: iam.IRole, tables: Mapping[str, dynamodb.TableV2], bus: events.IEventBus
    ) -> None:
        for key, access in sorted(spec.tables.items()):
            table = tables[key]
            if access == "read":
                table.grant_read_data(role)
            elif access == "write":
                table.grant_write_data(role)
            else:
                table.grant_read_write_data(role)
        if spec.puts_events:
            bus.grant_put_events_to(role)
        if spec.reads_bus_rules:
            # ListRules takes no resource-level permission; a refusal only makes the relay publish all
            role.add_to_principal_policy(iam.PolicyStatement(actions=["events:ListRules"], resources=["*"]))
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "events:ListRules takes no resource-level permission: the relay reads the bus's rules "
                "(patterns only, no write) to publish only what some rule wants.",
            )
        if spec.reads_metrics:
            # neither action takes a resource-level permission
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], resources=["*"]
                )
            )
        if spec.invokes_bedrock:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(BEDROCK_ACTIONS),
                    resources=[
                        Stack.of(role).format_arn(
                            service="bedrock",
                            account="",
                            resource="foundation-model",
                            resource_name="*",
                        )
                    ],
                )
            )

    def _trigger(
        self, spec: FunctionSpec, function: lambda_.Function, routes: Mapping[str, RouteQueues]
    ) -> None:
        trigger = spec.trigger
        if isinstance(trigger, Consumes):
            subscribed = route(trigger.route)
            if subscribed.function != spec.name:
                raise ValueError(f"route {subscribed.name} names {subscribed.function}, not {spec.name}")
            if subscribed.delivery == "stream":
                assert self._events_table is not None, "stream routes read the events table's stream"
                consume_stream(function, subscribed, self._events_table, self._streams[subscribed.name].dlq)
                return
            consume(
                function,
                subscribed,
                routes[subscribed.name].queue,
                reserved_concurrency_scale=self.reserved_concurrency_scale,
            )
        elif isinstance(trigger, Every):
            schedule(self, spec.name, function, trigger.expression)

    @staticmethod
    def _acknowledge(
        spec: FunctionSpec,
        function: lambda_.Function,
        role: iam.IRole,
        tables: Mapping[str, dynamodb.TableV2],
    ) -> None:
        for key in sorted(INDEXED_TABLES & set(spec.tables)):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(tables[key])}.Arn>/index/*]",
                "grant_*_data also covers the table's indexes (the outbox index is queried); the "
                "statement is still scoped to this one table.",
            )
        if spec.invokes_bedrock:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/*]",
                "Each AI participant names its own model at run time (a chat setting, not a deploy "
                "setting); the grant is one streaming action on this region's foundation models only.",
            )
        if isinstance(spec.trigger, Every):
            acknowledge_scheduled(function)


def acknowledge_scheduled(function: lambda_.Function) -> None:
    """A scheduled function's async invokes have no DLQ or failure destination, on purpose."""
    for rule in ("Serverless-LambdaDLQ", "Serverless-LambdaAsyncFailureDestination"):
        acknowledge(
            function,
            rule,
            "A failed scheduled run leaves its work in place for the next run a minute later "
            "and raises the error alarm; a DLQ of empty scheduler events holds nothing to replay.",
        )


def schedule(
    scope: Construct,
    name: str,
    function: lambda_.Function,
    expression: str,
    payload: Mapping[str, Any] | None = None,
) -> scheduler.Schedule:
    """EventBridge Scheduler invoking ``function`` on ``expression`` (with ``payload`` as its event, if
    given), with no retries: a failed run's work waits for the next run."""
    # its own role, so the invoke permission it holds is this function's alone
    invoker = iam.Role(
        scope,
        f"{name}-ScheduleRole",
        assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
        description=f"EventBridge Scheduler invoking parley {name}",
    )
    target_input = None if payload is None else scheduler.ScheduleTargetInput.from_object(dict(payload))
    created = scheduler.Schedule(
        scope,
        f"{name}-Schedule",
        description=f"Runs parley {name}",
        schedule=scheduler.ScheduleExpression.expression(expression),
        target=scheduler_targets.LambdaInvoke(function, retry_attempts=0, role=invoker, input=target_input),
    )
    acknowledge(
        invoker,
        f"AwsSolutions-IAM5[Resource::<{_logical_id(function)}.Arn>:*]",
        "CDK grants invoke on the function and its versions (ARN:*); the role is this "
        "schedule's alone and can invoke nothing else.",
    )
    return created


def function_code(folder: str) -> lambda_.Code:
    """The handler folder ``functions/<folder>/`` as the function's code (the layer holds the rest)."""
    return lambda_.Code.from_asset(str(FUNCTIONS_DIR / folder), exclude=["__pycache__", "*.pyc"])


def _logical_id(construct: Construct) -> str:
    """The CloudFormation logical id of a construct's resource, as cdk-nag prints it in a finding."""
    child = construct.node.default_child
    assert isinstance(child, CfnResource), f"{construct.node.path} has no CloudFormation resource"
    resolved: str = Stack.of(construct).resolve(child.logical_id)
    return resolved
