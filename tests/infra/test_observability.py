"""Alarms reach the topic for dead-lettered events, failing functions and API 5xx; a dashboard shows all."""

from __future__ import annotations

import json

import pytest

from bench.cost import load_prices
from infra.observability import API_TRACE_FIXED_RATE, API_TRACE_RESERVOIR_PER_SECOND
from infra.specs import FUNCTIONS, Consumes, Http, WebSocket, deployed_routes
from parley.extensions.builtin import manifests
from parley.extensions.usage import USAGE_USD
from tests.infra.conftest import Synth


def test_any_message_in_any_dlq_raises_an_alarm_to_the_topic(synth: Synth) -> None:
    topic = synth.logical_id(synth.stack.observability.topic)
    alarms = synth.resources("AWS::CloudWatch::Alarm").values()
    dlq_alarms = [
        a["Properties"]
        for a in alarms
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    dlqs = {
        synth.logical_id(
            synth.stack.events.streams[r.name].dlq
            if r.delivery == "stream"
            else synth.stack.route_queues[r.name].dlq
        )
        for r in deployed_routes()
    }
    assert {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in dlq_alarms} == dlqs
    for alarm in dlq_alarms:
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_each_function_has_an_error_rate_alarm_the_api_a_5xx_alarm_and_ai_a_failure_alarm(
    synth: Synth,
) -> None:
    rates = [
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if "Metrics" in a["Properties"]
    ]
    described = " ".join(a["AlarmDescription"] for a in rates)
    for spec in FUNCTIONS:
        assert f"Function {spec.name}:" in described
    assert "HTTP API" in described
    assert "AI replies" in described
    assert len(rates) == len(FUNCTIONS) + 2


def test_each_stream_route_alarms_when_its_records_wait_a_minute(synth: Synth) -> None:
    topic = synth.logical_id(synth.stack.observability.topic)
    ages = [
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "IteratorAge"
    ]
    functions = {a["Dimensions"][0]["Value"]["Ref"] for a in ages}
    assert functions == {
        synth.logical_id(synth.stack.lambdas[r.function]) for r in deployed_routes() if r.delivery == "stream"
    }
    for alarm in ages:
        assert (alarm["Threshold"], alarm["Statistic"]) == (60_000, "Maximum")
        assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_the_alarm_email_from_context_is_subscribed(synth: Synth) -> None:
    synth.assertions.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "alarms@example.com"}
    )


def test_the_dashboard_shows_api_functions_queues_and_dlqs(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in ("HTTP API latency", "HTTP API requests and errors", "Function errors", "Function duration"):
        assert title in body
    assert "Route queues" in body
    assert "Dead-letter queues" in body


def test_the_dashboard_shows_websocket_traffic_and_ai_reply_time(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("ConnectCount", "MessageCount", "IntegrationError"):
        assert f'\\"{metric}\\"' in body, metric
    assert synth.logical_id(synth.stack.realtime.api) in body
    assert "AI reply time" in body
    assert synth.logical_id(synth.stack.lambdas["ai_responder"]) in body


def test_only_the_api_is_traced_and_consumers_log_at_warn(synth: Synth) -> None:
    # Given every function as deployed
    for spec in FUNCTIONS:
        props = synth.function(spec.name)["Properties"]
        env = props["Environment"]["Variables"]
        levels = (props["LoggingConfig"]["SystemLogLevel"], props["LoggingConfig"]["ApplicationLogLevel"])
        # Then X-Ray is active on the api alone, and Powertools' tracer is off where it is not
        mode = props.get("TracingConfig", {}).get("Mode", "PassThrough")  # Lambda's default
        assert (mode == "Active") is (spec.name == "api"), spec.name
        assert (env.get("POWERTOOLS_TRACE_DISABLED") == "true") is (spec.name != "api")
        # and queue consumers keep warnings and errors only (no platform lines, no per-event INFO)
        if isinstance(spec.trigger, Consumes):
            assert levels == ("WARN", "WARN"), spec.name
        if isinstance(spec.trigger, Http | WebSocket):
            assert levels[0] == "INFO", spec.name  # REPORT lines: init durations where people wait


def test_the_api_is_sampled_by_a_fixed_rate_rule_the_cost_model_prices(synth: Synth) -> None:
    (rule,) = [r["Properties"]["SamplingRule"] for r in synth.resources("AWS::XRay::SamplingRule").values()]
    assert (rule["ReservoirSize"], rule["FixedRate"]) == (
        API_TRACE_RESERVOIR_PER_SECOND,
        API_TRACE_FIXED_RATE,
    )
    assert rule["ServiceType"] == "AWS::Lambda::Function"
    assert rule["ServiceName"] == {"Ref": synth.logical_id(synth.stack.lambdas["api"])}
    xray = load_prices()["assumptions"]["all_in"]["xray"]
    assert (xray["reservoir_per_second"], xray["fixed_rate"]) == (rule["ReservoirSize"], rule["FixedRate"])


def test_each_shipped_extension_has_a_usage_row_priced_from_the_price_table(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for manifest in manifests():
        assert f"Extension {manifest.id}: usage a day" in body, manifest.id
        assert f"per chat: GET /extensions/{manifest.id}/usage/chats" in body, manifest.id
    for metric in ("ExtensionInvocations", "ExtensionEvents", "ExtensionWrites"):
        assert metric in body
    assert "estimated $ a day" in body
    # the estimate's prices are the bench's
    prices = load_prices()["aws"]
    per = {k: v["usd"] / v["per"] for k, v in prices.items()}
    assert USAGE_USD["ExtensionInvocations"] == pytest.approx(per["lambda_request"] + 3 * per["sqs_request"])
    assert USAGE_USD["ExtensionWrites"] == pytest.approx(per["dynamodb_write_request_unit"])
