"""Every function comes from the spec list, runs where its layer was built for, holds only what it needs."""

from __future__ import annotations

from typing import Any

from infra.extensions import REGISTRY_PROVIDER
from infra.functions import FUNCTIONS_DIR, KNOWN_SETTINGS, TABLE_SETTING
from infra.layer_build import LAMBDA_PYTHON
from infra.specs import FUNCTIONS, NOT_YET_DEPLOYED, Consumes, Every, consumer_of, deployed_routes
from parley.extensions.builtin import manifests
from parley.topology import route
from tests.infra.conftest import Synth


def test_every_handler_folder_is_deployed_or_deferred_with_a_reason() -> None:
    folders = {p.parent.name for p in FUNCTIONS_DIR.glob("*/handler.py")}
    specs = {f.name for f in FUNCTIONS}
    assert folders == specs | set(NOT_YET_DEPLOYED)
    assert not specs & set(NOT_YET_DEPLOYED), "a deployed function is still listed as deferred"
    assert all(len(reason) > 20 for reason in NOT_YET_DEPLOYED.values())


def _parley_functions(synth: Synth) -> dict[str, dict[str, Any]]:
    """Every function but CDK's AwsCustomResource provider (the registry writer, run at deploy)."""
    return {
        k: v
        for k, v in synth.resources("AWS::Lambda::Function").items()
        if not k.startswith(REGISTRY_PROVIDER)
    }


def test_one_lambda_per_spec_on_arm64_python_313_with_json_logs(synth: Synth) -> None:
    functions = _parley_functions(synth)
    assert len(functions) == len(FUNCTIONS)
    assert len(synth.resources("AWS::Lambda::Function")) == len(FUNCTIONS) + 1
    for function in functions.values():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == f"python{LAMBDA_PYTHON}"
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Handler"] == "handler.lambda_handler"
        assert len(props["Layers"]) == 1


def test_memory_and_timeout_come_from_the_spec(synth: Synth) -> None:
    for spec in FUNCTIONS:
        props = synth.function(spec.name)["Properties"]
        assert (props["MemorySize"], props["Timeout"]) == (spec.memory_mb, spec.timeout_seconds)


def test_environment_is_settings_aliases_and_powertools_wiring_only(synth: Synth) -> None:
    for spec in FUNCTIONS:
        env = synth.function(spec.name)["Properties"]["Environment"]["Variables"]
        assert set(env) <= KNOWN_SETTINGS | {k for k in env if k.startswith("POWERTOOLS_")}
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Parley"
        assert env["POWERTOOLS_SERVICE_NAME"] == f"parley-{spec.name}"
        # exactly the tables it may touch are named, and the bus only if it may publish
        assert {k for k in env if k.endswith("_TABLE")} == {TABLE_SETTING[t] for t in spec.tables}
        assert ("PARLEY_BUS_NAME" in env) is spec.puts_events


def _statements(synth: Synth, role_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _resource_ids(statement: dict[str, Any], known: set[str]) -> set[str]:
    """Which of the ``known`` logical ids the statement's resources refer to (Ref, GetAtt, Join)."""
    return {lid for lid in known if f"'{lid}'" in str(statement["Resource"])}


def test_each_role_reaches_only_the_tables_and_bus_its_spec_lists(synth: Synth) -> None:
    tables = {key: synth.logical_id(t) for key, t in synth.stack.storage.tables.items()}
    bus = synth.logical_id(synth.stack.events.bus)
    known = {*tables.values(), bus}
    for spec in FUNCTIONS:
        role = synth.logical_id(synth.stack.lambdas[spec.name].role)
        statements = _statements(synth, role)
        streams = [s for s in statements if "StreamArn" in str(s["Resource"])]
        dynamo = set().union(
            *(
                _resource_ids(s, known)
                for s in statements
                if "dynamodb:" in str(s["Action"]) and s not in streams
            )
        )
        assert dynamo == {tables[key] for key in spec.tables}, spec.name
        # the events table's stream: only for a stream route's consumer, from its event source mapping
        reads_stream = isinstance(spec.trigger, Consumes) and route(spec.trigger.route).delivery == "stream"
        assert bool(streams) is reads_stream, spec.name
        for statement in streams:
            assert _resource_ids(statement, known) == {tables["events"]}
        put_events = [s for s in statements if s["Action"] == "events:PutEvents"]
        assert bool(put_events) is spec.puts_events
        if put_events:
            assert _resource_ids(put_events[0], known) == {bus}
        lists_rules = [s for s in statements if s["Action"] == "events:ListRules"]
        assert bool(lists_rules) is spec.reads_bus_rules, spec.name
        reads_metrics = [s for s in statements if "cloudwatch:GetMetricData" in s["Action"]]
        assert bool(reads_metrics) is spec.reads_metrics, spec.name
        written = {
            lid for s in statements if "dynamodb:PutItem" in s["Action"] for lid in _resource_ids(s, known)
        }
        assert written == {tables[k] for k, access in spec.tables.items() if access != "read"}


def test_route_consumers_use_partial_batch_responses_and_the_route_batch_size(synth: Synth) -> None:
    mappings = list(synth.resources("AWS::Lambda::EventSourceMapping").values())
    assert len(mappings) == len(deployed_routes())
    for r in deployed_routes():
        if r.delivery == "stream":
            continue  # tests/infra/test_stack.py checks the stream's mappings
        consumer = consumer_of(r.name)
        queue = synth.logical_id(synth.stack.route_queues[r.name].queue)
        function = synth.logical_id(synth.stack.lambdas[consumer.name])
        (mapping,) = [
            m for m in mappings if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
        ]
        assert mapping["Properties"]["FunctionName"] == {"Ref": function}
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["Properties"]["BatchSize"] == r.batch_size


def test_queue_visibility_is_at_least_six_times_its_consumer_timeout(synth: Synth) -> None:
    for mapping in synth.resources("AWS::Lambda::EventSourceMapping").values():
        if "StartingPosition" in mapping["Properties"]:
            continue  # a stream, not a queue
        queue = synth.resource(mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0])
        function = synth.resource(mapping["Properties"]["FunctionName"]["Ref"])
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]


def test_consumers_match_the_routing_table() -> None:
    for spec in FUNCTIONS:
        if isinstance(spec.trigger, Consumes):
            assert route(spec.trigger.route).function == spec.name


def test_scheduled_functions_run_on_their_schedule_without_async_retries(synth: Synth) -> None:
    schedules = list(synth.resources("AWS::Scheduler::Schedule").values())
    scheduled = [s for s in FUNCTIONS if isinstance(s.trigger, Every)]
    ticking = [m for m in manifests() if m.tick]  # their schedules: tests/infra/test_extensions.py
    assert len(schedules) == len(scheduled) + len(ticking)
    for spec in scheduled:
        assert isinstance(spec.trigger, Every)
        function = synth.logical_id(synth.stack.lambdas[spec.name])
        (schedule,) = [
            s for s in schedules if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
        ]
        assert schedule["Properties"]["ScheduleExpression"] == spec.trigger.expression
        assert schedule["Properties"]["State"] == "ENABLED"
        synth.assertions.has_resource_properties(
            "AWS::Lambda::EventInvokeConfig", {"FunctionName": {"Ref": function}, "MaximumRetryAttempts": 0}
        )


def test_every_log_group_keeps_logs_for_the_context_retention(synth: Synth) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")
    # one per function, plus each API's access log and the registry writer's
    assert len(groups) == len(FUNCTIONS) + 3
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


def test_only_the_http_apis_logs_are_in_the_infrequent_access_class(synth: Synth) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")

    def class_of(logical_id: str) -> str:
        return str(groups[logical_id]["Properties"].get("LogGroupClass", "STANDARD"))

    for spec in FUNCTIONS:
        group = synth.function(spec.name)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert class_of(group) == spec.log_class, spec.name
    # the api's (it emits no embedded metrics) and the HTTP API's access log; every group whose
    # lines are metrics (analytics, the SDK's usage, the consumers' counters) stays Standard
    infrequent = {k for k in groups if class_of(k) == "INFREQUENT_ACCESS"}
    access_log = synth.logical_id(synth.stack.http.node.find_child("AccessLogs"))
    api_logs = synth.function("api")["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert infrequent == {api_logs, access_log}
    assert [s.name for s in FUNCTIONS if s.log_class == "INFREQUENT_ACCESS"] == ["api"]
