"""Alarms reach the topic for dead-lettered events, failing functions and API 5xx; a dashboard shows all."""

from __future__ import annotations

import json

from infra.specs import FUNCTIONS, deployed_routes
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
