"""Extensions on AWS: each shipped one is deployed by ParleyExtension from its manifest, with its own
rule, queue, DLQ and reserved concurrency, IAM that enforces its capabilities, and a registry entry.
The same construct deploys an extension that is an SQS queue or an HTTPS endpoint."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from infra import nag
from infra.bus import dead_letter_queue
from infra.extensions import REGISTRATION_TYPE, ExtensionHost, ParleyExtension
from infra.functions import function_code
from infra.specs import (
    EXTENSION_FUNCTIONS,
    HANDLER_TIMEOUT_SECONDS,
    NOT_YET_DEPLOYED,
    consumer_of,
    extension_function,
)
from parley.catalog import EXTENSION_SOURCE_PREFIX
from parley.extensions.builtin import manifests
from parley.extensions.manifest import Hooks, Manifest, Target
from parley.extensions.sdk import TICK_KEY
from parley.routing import Route, extension_route, route
from tests.infra.conftest import ROOT, Synth

SHIPPED = manifests()
HOOKED = [m for m in SHIPPED if m.hooks.any]


def _route(manifest: Manifest) -> Route:
    return extension_route(manifest.document(), reserved_concurrency=manifest.reserved_concurrency)


def _statements_of(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        and {"Ref": role_logical_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _resolve_join(value: Any) -> str:
    """A Fn::Join of strings and Refs, with each Ref written as ``<Ref:logical id>``."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<Ref:{p['Ref']}>" for p in parts)


def _registry_call(resource: dict[str, Any], phase: str) -> dict[str, Any]:
    call: dict[str, Any] = json.loads(_resolve_join(resource["Properties"][phase]))
    return call


def _extension(synth: Synth, manifest: Manifest) -> ParleyExtension:
    return synth.stack.extensions.installed[manifest.id]


def test_every_shipped_extension_is_deployed_from_its_manifest() -> None:
    # Given the extensions of parley.extensions.builtin, discovered from the package
    # Then each has a function spec from its manifest, consuming its own route
    assert {"welcome", "moderation"} <= {m.id for m in SHIPPED}
    assert [s.extension for s in EXTENSION_FUNCTIONS] == [m.id for m in SHIPPED]
    for manifest in SHIPPED:
        spec = consumer_of(_route(manifest).name)
        assert spec == extension_function(manifest)
        assert spec.name == f"ext_{manifest.id}" not in NOT_YET_DEPLOYED


def test_each_extension_rule_has_exactly_its_route_pattern_into_its_queue_with_a_dlq(synth: Synth) -> None:
    for manifest in SHIPPED:
        extension = _extension(synth, manifest)
        rule = synth.resource(synth.logical_id(extension.rule))["Properties"]
        assert rule["EventPattern"] == _route(manifest).pattern, manifest.id
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(extension.queue), "Arn"]}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [synth.logical_id(extension.dlq), "Arn"]}}
        queue = synth.resource(synth.logical_id(extension.queue))["Properties"]
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == target["DeadLetterConfig"]["Arn"]


def test_each_extension_function_has_reserved_concurrency_and_outlives_its_handlers(synth: Synth) -> None:
    for manifest in SHIPPED:
        extension = _extension(synth, manifest)
        assert extension.function is not None
        function = synth.logical_id(extension.function)
        props = synth.resource(function)["Properties"]
        assert props["ReservedConcurrentExecutions"] == manifest.reserved_concurrency
        assert 256 <= props["MemorySize"] <= 512
        assert props["Timeout"] >= HANDLER_TIMEOUT_SECONDS * _route(manifest).batch_size
        env = props["Environment"]["Variables"]
        assert float(env["PARLEY_EXTENSION_HANDLER_TIMEOUT_SECONDS"]) == HANDLER_TIMEOUT_SECONDS
        assert {"PARLEY_EXTENSIONS_TABLE", "PARLEY_BUS_NAME"} <= set(env)
        assert "PARLEY_CHATS_TABLE" not in env
        queue = synth.resource(synth.logical_id(extension.queue))["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * props["Timeout"]
        synth.assertions.has_resource_properties(
            "AWS::Lambda::EventSourceMapping",
            {
                "EventSourceArn": {"Fn::GetAtt": [synth.logical_id(extension.queue), "Arn"]},
                "FunctionName": {"Ref": function},
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                # pollers never outnumber the reserved concurrency (a throttle would count as a receive)
                "ScalingConfig": {"MaximumConcurrency": manifest.reserved_concurrency}
                if manifest.reserved_concurrency >= 2
                else Match.absent(),
            },
        )


def test_an_extension_with_a_tick_is_invoked_once_a_minute_with_the_tick_payload(synth: Synth) -> None:
    # Given the shipped extensions, of which workflows declares a tick
    ticking = [m for m in SHIPPED if m.tick]
    assert [m.id for m in ticking] == ["workflows"]
    schedules = synth.resources("AWS::Scheduler::Schedule").values()
    for manifest in SHIPPED:
        extension = _extension(synth, manifest)
        assert extension.function is not None
        function = synth.logical_id(extension.function)
        mine = [s for s in schedules if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}]
        if not manifest.tick:
            assert mine == [], manifest.id
            continue
        # Then its function alone gets a schedule: every minute, the SDK's tick payload, no retries
        (schedule,) = mine
        assert schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
        # the tick is for the minute it was scheduled at, however late the invoke
        assert json.loads(schedule["Properties"]["Target"]["Input"]) == {
            TICK_KEY: "<aws.scheduler.scheduled-time>"
        }
        assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
        synth.assertions.has_resource_properties(
            "AWS::Lambda::EventInvokeConfig", {"FunctionName": {"Ref": function}, "MaximumRetryAttempts": 0}
        )


def test_an_extension_may_put_only_its_own_source_and_the_detail_types_it_may_send(synth: Synth) -> None:
    bus = {"Fn::GetAtt": [synth.logical_id(synth.stack.events.bus), "Arn"]}
    for manifest in SHIPPED:
        extension = _extension(synth, manifest)
        assert extension.function is not None
        assert extension.function.role is not None
        statements = _statements_of(synth.template, synth.logical_id(extension.function.role))
        (put,) = [s for s in statements if "events:PutEvents" in _actions(s)]
        assert put["Resource"] == bus
        assert put["Condition"] == {
            "StringEquals": {"events:source": manifest.source, "events:detail-type": list(manifest.may_send)}
        }
        assert manifest.source == f"{EXTENSION_SOURCE_PREFIX}{manifest.id}"


def test_an_extension_reaches_only_its_own_rows_and_the_registry_never_a_core_table(synth: Synth) -> None:
    tables = {key: synth.logical_id(t) for key, t in synth.stack.storage.tables.items()}
    for manifest in SHIPPED:
        extension = _extension(synth, manifest)
        assert extension.function is not None
        assert extension.function.role is not None
        statements = _statements_of(synth.template, synth.logical_id(extension.function.role))
        dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
        on_extensions = [s for s in dynamo if s["Resource"] == {"Fn::GetAtt": [tables["extensions"], "Arn"]}]
        # its context rows (parley.domain.contexts) are what it may know of a chat: no chats table
        assert on_extensions == dynamo, "no other table, the chats table least of all"
        assert "chats" not in json.dumps(dynamo).lower()
        own = f"{manifest.id}#*"
        for statement in on_extensions:
            keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            assert "dynamodb:Scan" not in _actions(statement)
            if "dynamodb:PutItem" in _actions(statement):
                assert keys == [own], "writes only its own rows, never the registry"
            else:
                assert keys == [own, "registry"]
        assert {a for s in on_extensions for a in _actions(s)} >= {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        }
        env = synth.resource(synth.logical_id(extension.function))["Properties"]["Environment"]["Variables"]
        assert "PARLEY_CHATS_TABLE" not in env


def test_the_registry_entry_is_the_manifest_document_with_the_deployed_function(synth: Synth) -> None:
    table = synth.logical_id(synth.stack.storage.tables["extensions"])
    for manifest in SHIPPED:
        extension = _extension(synth, manifest)
        assert extension.function is not None
        resource = synth.resource(synth.logical_id(extension.registration.node.default_child))
        assert resource["Type"] == REGISTRATION_TYPE
        # Given the PutItem the custom resource makes at create and at update
        for phase in ("Create", "Update"):
            call = _registry_call(resource, phase)
            assert (call["service"], call["action"]) == ("DynamoDB", "putItem")
            item = call["parameters"]["Item"]
            assert call["parameters"]["TableName"] == f"<Ref:{table}>"
            assert (item["pk"], item["sk"]) == ({"S": "registry"}, {"S": manifest.id})
            # Then its data is the manifest's document, run by the deployed function (by name)
            function = f"<Ref:{synth.logical_id(extension.function)}>"
            expected = manifest.document(target=Target(kind="lambda", function=function))
            assert json.loads(item["data"]["S"]) == expected.model_dump(mode="json")
        delete = _registry_call(resource, "Delete")
        assert delete["action"] == "deleteItem"
        assert delete["parameters"]["Key"] == {"pk": {"S": "registry"}, "sk": {"S": manifest.id}}
        assert resource["Properties"]["InstallLatestAwsSdk"] is False


def test_the_registry_writer_may_write_registry_rows_only(synth: Synth) -> None:
    for manifest in SHIPPED:
        registration = _extension(synth, manifest).registration
        (policy,) = [c for c in registration.node.find_all() if isinstance(c, iam.CfnPolicy)]
        (statement,) = synth.resource(synth.logical_id(policy))["Properties"]["PolicyDocument"]["Statement"]
        assert sorted(_actions(statement)) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
        assert statement["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["registry"]}}


def test_the_extension_gateway_hears_every_extension_source_by_prefix(synth: Synth) -> None:
    gateway = route("extension_gateway")
    assert gateway.pattern["source"] == [{"prefix": EXTENSION_SOURCE_PREFIX}]
    rule = synth.resource(synth.logical_id(synth.stack.route_queues["extension_gateway"].rule))
    assert rule["Properties"]["EventPattern"] == gateway.pattern
    env = synth.resource(synth.logical_id(synth.stack.lambdas["extension_gateway"]))["Properties"]
    assert "PARLEY_EXTENSIONS_TABLE" in env["Environment"]["Variables"]


HOOK_CALLERS = {"api", "realtime", "ai_responder", "extension_gateway", "broadcaster"}
BACKFILLED = [m for m in SHIPPED if m.backfill]


def test_only_the_functions_that_run_hooks_may_invoke_and_only_hooked_extensions(synth: Synth) -> None:
    # Given moderation's hook (a synchronous invoke on every post of a chat that enables it)
    assert "moderation" in {m.id for m in HOOKED}
    # and analytics' backfill (a synchronous invoke per page of a chat's past, when it is enabled)
    assert [m.id for m in BACKFILLED] == ["analytics"]

    def arns(manifests: list[Manifest]) -> list[dict[str, Any]]:
        functions = [_extension(synth, m).function for m in manifests]
        return [{"Fn::GetAtt": [synth.logical_id(f), "Arn"]} for f in functions if f is not None]

    hooks, backfills = arns(HOOKED), arns(BACKFILLED)
    # Then the functions that store messages members see (api and realtime for posts, ai_responder
    # for AI replies, extension_gateway for bot messages, the broadcaster for read filters on pushes)
    # may invoke exactly those functions (unqualified), the backfill route exactly the backfilled ones,
    # and no other function may invoke any
    for name, function in synth.stack.lambdas.items():
        assert function.role is not None
        statements = _statements_of(synth.template, synth.logical_id(function.role))
        invokes = [s for s in statements if any(a.startswith("lambda:") for a in _actions(s))]
        resources = [
            r
            for s in invokes
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        ]
        assert all(_actions(s) == ["lambda:InvokeFunction"] for s in invokes), name
        allowed = hooks if name in HOOK_CALLERS else backfills if name == "backfill" else []
        assert sorted(map(str, resources)) == sorted(map(str, allowed)), name


def test_every_extension_dlq_and_function_is_alarmed(synth: Synth) -> None:
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]
    described = " ".join(a["AlarmDescription"] for a in alarms)
    for manifest in SHIPPED:
        name = _route(manifest).name
        assert f"Route {name}:" in described
        assert f"Function {name}:" in described


# -- the construct on its own: a queue and an HTTPS endpoint as extensions ---------------------------

RELAY = Manifest(
    id="relay",
    version="1.0.0",
    name="Relay",
    description="Hands every stored message to another team's queue.",
    events=("MessageStored",),
)
PARTNER = Manifest(
    id="partner",
    version="2.1.0",
    name="Partner",
    description="Posts every join and stored message to a partner's HTTPS endpoint.",
    events=("UserJoined", "MessageStored"),
    extension_events=("sentiment.scored",),
)
GUARD = Manifest(
    id="guard",
    version="1.0.0",
    name="Guard",
    description="A moderation hook of a platform team.",
    capabilities=frozenset({"messages:moderate"}),
    hooks=Hooks(moderate=True),
    reserved_concurrency=7,
)
PARTNER_URL = "https://partner.example.com/parley/events"


def _host(stack: cdk.Stack, callers: tuple[iam.IGrantable, ...] = ()) -> ExtensionHost:
    """What an extension plugs into, alone in ``stack``: a bus, the two tables it reads, a layer."""
    key = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
    sort = dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING)
    return ExtensionHost(
        bus=events.EventBus(stack, "Bus", event_bus_name="parley"),
        extensions_table=dynamodb.TableV2(stack, "Extensions", partition_key=key, sort_key=sort),
        chats_table=dynamodb.TableV2(stack, "Chats", partition_key=key),
        layer=lambda_.LayerVersion.from_layer_version_arn(
            stack, "Layer", "arn:aws:lambda:eu-west-1:123456789012:layer:parley:1"
        ),
        hook_callers=callers,
    )


def _stack(app: cdk.App | None = None) -> cdk.Stack:
    return cdk.Stack(
        app or cdk.App(), "Small", env=cdk.Environment(account="123456789012", region="eu-west-1")
    )


class _Small:
    """A stack with only what extensions plug into, and one extension of each kind: a queue, an HTTPS
    endpoint and a Lambda with a hook."""

    def __init__(self) -> None:
        self.app = cdk.App()
        nag.check(self.app)
        stack = self.stack = _stack(self.app)
        self.caller = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.host = _host(stack, callers=(self.caller,))
        # another team's queue, with its own dead-letter queue
        self.inbox = sqs.Queue(
            stack,
            "Inbox",
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letter_queue(stack, "InboxDlq"), max_receive_count=5
            ),
        )
        self.relay = ParleyExtension(stack, "Relay", host=self.host, manifest=RELAY, queue=self.inbox)
        self.partner = ParleyExtension(
            stack,
            "Partner",
            host=self.host,
            manifest=PARTNER,
            https_url=PARTNER_URL,
            https_authorization=events.Authorization.api_key(
                "x-api-key", cdk.SecretValue.secrets_manager("parley/partner-api-key")
            ),
        )
        self.guard = ParleyExtension(
            stack, "Guard", host=self.host, manifest=GUARD, code=function_code("ext_moderation")
        )
        self.template: dict[str, Any] = dict(Template.from_stack(stack).to_json())
        self.assertions = Template.from_json(self.template)

    def id_of(self, construct: Any) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        resolved: str = self.stack.resolve(element.logical_id)
        return resolved

    def registered(self, extension: ParleyExtension) -> dict[str, Any]:
        resource = self.template["Resources"][self.id_of(extension.registration.node.default_child)]
        data: dict[str, Any] = json.loads(
            _registry_call(resource, "Create")["parameters"]["Item"]["data"]["S"]
        )
        return data

    def rule(self, extension: ParleyExtension) -> dict[str, Any]:
        props: dict[str, Any] = self.template["Resources"][self.id_of(extension.rule)]["Properties"]
        return props


@pytest.fixture(scope="module")
def small() -> _Small:
    return _Small()


def test_a_queue_extension_gets_its_rule_a_target_dlq_and_retries_into_that_queue(small: _Small) -> None:
    rule = small.rule(small.relay)
    assert rule["EventPattern"] == _route(RELAY).pattern
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [small.id_of(small.inbox), "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [small.id_of(small.relay.dlq), "Arn"]}}
    retry = _route(RELAY).retry
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": retry.max_attempts - 1,
        "MaximumEventAgeInSeconds": retry.max_event_age_seconds,
    }
    assert small.relay.function is None
    assert small.registered(small.relay)["target"] == {"kind": "queue", "function": None, "url": None}
    # EventBridge may send to the queue, for this rule only (CDK's queue policy)
    small.assertions.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": small.id_of(small.inbox)}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["sqs:SendMessage"]),
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": {
                                            "Fn::GetAtt": [small.id_of(small.relay.rule), "Arn"]
                                        }
                                    }
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


def test_an_https_extension_goes_through_a_connection_and_api_destination_with_a_dlq(small: _Small) -> None:
    rule = small.rule(small.partner)
    assert rule["EventPattern"] == _route(PARTNER).pattern
    assert {"prefix": EXTENSION_SOURCE_PREFIX} in rule["EventPattern"]["source"]  # it hears sentiment.scored
    (target,) = rule["Targets"]
    destination = small.template["Resources"][target["Arn"]["Fn::GetAtt"][0]]
    assert destination["Type"] == "AWS::Events::ApiDestination"
    assert destination["Properties"]["InvocationEndpoint"] == PARTNER_URL
    assert destination["Properties"]["HttpMethod"] == "POST"
    connection = small.template["Resources"][destination["Properties"]["ConnectionArn"]["Fn::GetAtt"][0]]
    assert connection["Type"] == "AWS::Events::Connection"
    assert connection["Properties"]["AuthorizationType"] == "API_KEY"
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [small.id_of(small.partner.dlq), "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == _route(PARTNER).retry.max_attempts - 1
    assert "RoleArn" in target  # EventBridge's role to invoke the destination
    assert small.registered(small.partner)["target"] == {
        "kind": "https",
        "function": None,
        "url": PARTNER_URL,
    }


def test_a_code_extension_with_a_hook_is_invokable_by_the_hook_callers_only(small: _Small) -> None:
    assert small.guard.function is not None
    function = small.id_of(small.guard.function)
    props = small.template["Resources"][function]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 7
    assert props["MemorySize"] == 512  # a hook answers within the budget, cold start included
    (invoke,) = [
        s
        for s in _statements_of(small.template, small.id_of(small.caller))
        if "lambda:InvokeFunction" in _actions(s)
    ]
    assert invoke["Resource"] == {"Fn::GetAtt": [function, "Arn"]}
    # the hook invoker calls it by the name the registry holds
    target = {"kind": "lambda", "function": f"<Ref:{function}>", "url": None}
    assert small.registered(small.guard)["target"] == target


def test_the_construct_alone_passes_cdk_nag(small: _Small) -> None:
    # the small app has cdk-nag's packs on: synthesis raises on any unacknowledged finding
    small.app.synth()


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ((), "exactly one target"),
        (("queue", "code"), "exactly one target"),
        (("https_url",), "https_authorization"),
        (("http_url", "authorization"), "not an https"),
    ],
)
def test_the_construct_refuses_what_it_cannot_deploy(targets: tuple[str, ...], message: str) -> None:
    stack = _stack()
    given: dict[str, Any] = {
        "queue": sqs.Queue(stack, "Queue"),
        "code": function_code("ext_welcome"),
        "https_url": PARTNER_URL,
        "http_url": "http://partner.example.com/events",
        "authorization": events.Authorization.api_key("x-api-key", cdk.SecretValue.secrets_manager("k")),
    }
    kwargs = {("https_url" if k == "http_url" else k): given[k] for k in targets}
    if "authorization" in kwargs:
        kwargs["https_authorization"] = kwargs.pop("authorization")
    with pytest.raises(ValueError, match=message):
        ParleyExtension(stack, "Bad", host=_host(stack), manifest=RELAY, **kwargs)


def test_a_hook_needs_code_since_it_is_a_synchronous_invoke() -> None:
    stack = _stack()
    with pytest.raises(ValueError, match="needs `code`"):
        ParleyExtension(stack, "Guard", host=_host(stack), manifest=GUARD, queue=sqs.Queue(stack, "Queue"))


def test_every_extension_rule_matches_only_chats_that_enabled_it(synth: Synth, small: _Small) -> None:
    # Given every extension rule in the template: shipped Lambdas, a queue, an HTTPS endpoint, a hook
    rules = [
        (m.id, synth.resource(synth.logical_id(_extension(synth, m).rule))["Properties"]) for m in SHIPPED
    ]
    rules += [(e.manifest.id, small.rule(e)) for e in (small.relay, small.partner, small.guard)]
    for extension_id, rule in rules:
        # Then each matches only events whose metadata lists that extension
        assert rule["EventPattern"]["detail"]["metadata"] == {"extensions": [extension_id]}, extension_id


def test_a_rule_for_other_extensions_events_matches_them_by_name(synth: Synth) -> None:
    # Given a shipped extension subscribed to other extensions' events by name
    subscriber = next(m for m in SHIPPED if m.extension_events)
    rule = synth.resource(synth.logical_id(_extension(synth, subscriber).rule))["Properties"]
    # Then its rule takes an ExtensionEvent only under one of those names (and its other events as before)
    branches = rule["EventPattern"]["detail"]["$or"]
    assert {
        "metadata": {"event_type": ["ExtensionEvent"]},
        "data": {"name": list(subscriber.extension_events)},
    } in (branches)
    assert rule["EventPattern"] == extension_route(subscriber.document()).pattern


def test_the_stack_exports_what_an_extension_in_another_app_imports(synth: Synth) -> None:
    # Given the Parley stack's outputs
    outputs = synth.template["Outputs"]
    stack_name = synth.stack.stack_name
    # Then the bus, both tables, the layer and the service prefix are exported under its name
    for name in ("BusArn", "ExtensionsTableArn", "ChatsTableArn", "LayerArn", "ServicePrefix"):
        assert outputs[f"Parley{name}"]["Export"] == {"Name": f"{stack_name}-Parley{name}"}, name


def test_an_extension_in_its_own_app_finds_the_parley_stack_by_name() -> None:
    # Given another CDK app, with a host imported from a stack named "Parley"
    stack = _stack()
    host = ExtensionHost.from_exports(stack, "Parley")
    ParleyExtension(
        stack,
        "Greeter",
        host=host,
        manifest=RELAY,
        code=lambda_.Code.from_asset(str(ROOT / "functions" / "ext_welcome")),
    )
    template = Template.from_stack(stack).to_json()
    rendered = json.dumps(template)
    # Then its rule is on the imported bus, its function has the imported layer, its registry entry
    # goes to the imported table, and nothing of Parley is created here
    for name in ("BusArn", "ExtensionsTableArn", "LayerArn", "ServicePrefix"):
        assert json.dumps({"Fn::ImportValue": f"Parley-Parley{name}"}) in rendered, name
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::Events::EventBus" not in types
    assert "AWS::DynamoDB::GlobalTable" not in types
    assert "AWS::DynamoDB::Table" not in types
    assert {"AWS::Events::Rule", "AWS::Lambda::Function", "AWS::SQS::Queue"} <= types
