"""Alarms and the dashboard: what an operator looks at when a chat goes quiet.

Alarms go to one SNS topic: any message in any dead-letter queue (an event a handler gave up on),
a function error rate, and the HTTP API's 5xx rate. The dashboard shows the API's latency and
errors, the WebSocket API's connects, messages and integration errors, the AI responder's reply
time (its duration: parley emits no reply-time metric of its own), each function's errors and
duration, and each route's queue and DLQ depth. Each extension (``infra.extensions``) asks for the
same alarms on its own function and DLQ, and gets a dashboard row of its own (``watch_extension``).
Tracing, JSON logs, log levels and retention are set on the functions themselves
(``infra.functions``); X-Ray traces the api only, under the fixed-rate sampling rule here
(``API_TRACE_RESERVOIR_PER_SECOND`` then ``API_TRACE_FIXED_RATE``: Lambda's own default for active
tracing, stated as a rule so the bench's cost model and the account agree on it).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_xray as xray
from constructs import Construct

from infra.bus import RouteQueues
from infra.nag import acknowledge
from parley.extensions.usage import USAGE_USD  # the estimate the operators' usage route gives too

FUNCTION_ERROR_RATE_PERCENT = 5
AI_FAILURE_RATE_PERCENT = 10
STREAM_ITERATOR_AGE_MS = 60_000
"""A stream route falling a minute behind: a post reaches sockets and the bus that much late."""
API_5XX_RATE_PERCENT = 1
WINDOW = Duration.minutes(5)
API_TRACE_RESERVOIR_PER_SECOND = 1
API_TRACE_FIXED_RATE = 0.05
"""The api's traces: the first request each second, then 5% of the rest (bench/prices.json prices
X-Ray with these numbers)."""


def usage_widget(extension_id: str) -> cloudwatch.GraphWidget:
    """Per day: the extension's invocations, events and writes, and their estimated cost."""
    day = Duration.days(1)

    def total(metric: str) -> cloudwatch.MathExpression:
        search = (
            f'SEARCH(\'{{Parley,extension_id,service}} MetricName="{metric}" '
            f"extension_id=\"{extension_id}\"', 'Sum', 86400)"
        )
        return cloudwatch.MathExpression(expression=f"SUM({search})", label=metric, period=day)

    counts = {name: total(name) for name in ("ExtensionInvocations", "ExtensionEvents", "ExtensionWrites")}
    ids = {name: f"u{n}" for n, name in enumerate(counts)}
    estimate = cloudwatch.MathExpression(
        expression=" + ".join(f"{ids[name]} * {usd:.10f}" for name, usd in USAGE_USD.items()),
        using_metrics={ids[name]: metric for name, metric in counts.items()},
        label="estimated $ a day",
        period=day,
    )
    return cloudwatch.GraphWidget(
        # per chat it would take a metric per chat: the operators' API folds a chat's log instead
        title=f"Extension {extension_id}: usage a day (SDK metrics) and estimated $; "
        f"per chat: GET /extensions/{extension_id}/usage/chats",
        left=list(counts.values()),
        right=[estimate],
        width=24,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.Function],
        routes: Mapping[str, RouteQueues],
        http_api: apigwv2.HttpApi,
        websocket_api: apigwv2.WebSocketApi,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish under the AWS-managed SNS key: a key of our own lets it, and only it
        self.topic_key = kms.Key(
            self,
            "AlarmsKey",
            description="Parley alarm topic (SNS server-side encryption)",
            enable_key_rotation=True,
        )
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self, "Alarms", display_name="Parley alarms", enforce_ssl=True, master_key=self.topic_key
        )
        if alarm_email:
            subscription = self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            acknowledge(
                subscription,
                "Serverless-SNSRedrivePolicy",
                "An undeliverable alarm e-mail has nothing to replay: the alarm's state stays visible "
                "on the dashboard and in CloudWatch, and SNS already retries e-mail delivery.",
            )
        self.alarms: list[cloudwatch.Alarm] = []

        for name, route in sorted(routes.items()):
            self._dlq_alarm(name, route.dlq)
        for name, function in sorted(functions.items()):
            self._error_rate_alarm(name, function)
        api_5xx = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={
                "errors": http_api.metric_server_error(period=WINDOW, statistic="Sum"),
                "requests": http_api.metric_count(period=WINDOW, statistic="Sum"),
            },
            label="API 5xx %",
            period=WINDOW,
        )
        self._alarm(
            "Api-5xxRate",
            api_5xx,
            threshold=API_5XX_RATE_PERCENT,
            description=f"HTTP API: over {API_5XX_RATE_PERCENT}% of requests failed with 5xx.",
        )
        self.dashboard = self._dashboard(functions, routes, http_api, websocket_api)
        if "api" in functions:
            self.api_sampling = self._api_sampling(functions["api"])

    def _api_sampling(self, api: lambda_.Function) -> xray.CfnSamplingRule:
        """The api's fixed-rate X-Ray sampling rule (the only traced function)."""
        return xray.CfnSamplingRule(
            self,
            "ApiTraceSampling",
            sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
                rule_name=f"{Stack.of(self).stack_name}-api"[-32:],
                priority=100,
                reservoir_size=API_TRACE_RESERVOIR_PER_SECOND,
                fixed_rate=API_TRACE_FIXED_RATE,
                service_name=api.function_name,
                service_type="AWS::Lambda::Function",
                host="*",
                http_method="*",
                url_path="*",
                resource_arn="*",
                version=1,
            ),
        )

    def watch_extension(
        self,
        route: str,
        *,
        dlq: sqs.IQueue,
        queue: sqs.IQueue | None = None,
        function: lambda_.IFunction | None = None,
        extension_id: str | None = None,
    ) -> None:
        """An extension's alarms (its DLQ, its function's error rate) and its own dashboard row,
        with its usage (invocations, events, writes, estimated $ a day) when it runs on the SDK."""
        alarms = [self._dlq_alarm(route, dlq)]
        left: list[cloudwatch.IMetric] = []
        if function is not None:
            alarms.append(self._error_rate_alarm(route, function))
            minute = Duration.minutes(1)
            left = [
                function.metric_errors(period=minute, statistic="Sum", label="errors"),
                function.metric_throttles(period=minute, statistic="Sum", label="throttles"),
                function.metric_duration(period=minute, statistic="p99", label="duration p99 (ms)"),
            ]
        right = [
            q.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum", label=label
            )
            for q, label in ((queue, "waiting"), (dlq, "DLQ"))
            if q is not None
        ]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title=f"Extension route {route}", left=left, right=right, width=18),
            cloudwatch.AlarmStatusWidget(title=f"{route} alarms", alarms=list(alarms), width=6),
        )
        if extension_id is not None and function is not None:
            self.dashboard.add_widgets(usage_widget(extension_id))

    def watch_stream(self, route: str, *, dlq: sqs.IQueue, function: lambda_.IFunction) -> None:
        """A stream route's alarms: its DLQ (a batch position that kept failing) and its iterator age
        (records waiting behind a failing one, or a consumer that cannot keep up), with a dashboard
        row."""
        minute = Duration.minutes(1)
        alarms = [
            self._dlq_alarm(route, dlq),
            self._alarm(
                f"{route}-IteratorAge",
                function.metric("IteratorAge", period=minute, statistic="Maximum"),
                threshold=STREAM_ITERATOR_AGE_MS,
                description=f"Stream route {route}: records wait over {STREAM_ITERATOR_AGE_MS // 1000} s "
                "in the events table's stream (a failing batch being retried, or too slow a consumer).",
            ),
        ]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"Stream route {route}",
                left=[
                    function.metric(
                        "IteratorAge", period=minute, statistic="Maximum", label="iterator age (ms)"
                    )
                ],
                right=[
                    dlq.metric_approximate_number_of_messages_visible(
                        period=minute, statistic="Maximum", label="DLQ"
                    )
                ],
                width=18,
            ),
            cloudwatch.AlarmStatusWidget(title=f"{route} alarms", alarms=alarms, width=6),
        )

    def watch_ai_failures(self, service: str, *, namespace: str = "Parley") -> cloudwatch.Alarm:
        """The share of AI replies that end in AIResponseFailed, from the EMF counts ``service``
        emits (ai_responder's AIResponderCompleted and AIResponderFailed, for every chat)."""

        def count(metric: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=metric,
                dimensions_map={"service": service},
                period=WINDOW,
                statistic="Sum",
            )

        rate = cloudwatch.MathExpression(
            expression="IF(failed + completed > 0, 100 * failed / (failed + completed), 0)",
            using_metrics={"failed": count("AIResponderFailed"), "completed": count("AIResponderCompleted")},
            label="AI failure %",
            period=WINDOW,
        )
        alarm = self._alarm(
            "Ai-FailureRate",
            rate,
            threshold=AI_FAILURE_RATE_PERCENT,
            description=f"AI replies: over {AI_FAILURE_RATE_PERCENT}% ended in AIResponseFailed "
            "(model access, throttling, time-outs): see ai_responder's logs.",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="AI replies failed (%)", left=[rate], width=18),
            cloudwatch.AlarmStatusWidget(title="AI alarm", alarms=[alarm], width=6),
        )
        return alarm

    def _dlq_alarm(self, name: str, dlq: sqs.IQueue) -> cloudwatch.Alarm:
        return self._alarm(
            f"{name}-Dlq",
            dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=1,
            description=f"Route {name}: an event was dead-lettered; inspect and redrive the DLQ.",
        )

    def _error_rate_alarm(self, name: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        rate = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={
                "errors": function.metric_errors(period=WINDOW, statistic="Sum"),
                "invocations": function.metric_invocations(period=WINDOW, statistic="Sum"),
            },
            label=f"{name} error %",
            period=WINDOW,
        )
        return self._alarm(
            f"{name}-ErrorRate",
            rate,
            threshold=FUNCTION_ERROR_RATE_PERCENT,
            description=f"Function {name}: over {FUNCTION_ERROR_RATE_PERCENT}% of invocations failed.",
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _dashboard(
        self,
        functions: Mapping[str, lambda_.Function],
        routes: Mapping[str, RouteQueues],
        http_api: apigwv2.HttpApi,
        websocket_api: apigwv2.WebSocketApi,
    ) -> cloudwatch.Dashboard:
        minute = Duration.minutes(1)
        api_row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="HTTP API latency (ms)",
                left=[
                    http_api.metric_latency(period=minute, statistic=s, label=f"latency {s}")
                    for s in ("p50", "p90", "p99")
                ]
                + [
                    http_api.metric_integration_latency(
                        period=minute, statistic="p99", label="integration p99"
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="HTTP API requests and errors",
                left=[http_api.metric_count(period=minute, statistic="Sum", label="requests")],
                right=[
                    http_api.metric_client_error(period=minute, statistic="Sum", label="4xx"),
                    http_api.metric_server_error(period=minute, statistic="Sum", label="5xx"),
                ],
                width=12,
            ),
        ]
        realtime_row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="WebSocket connects and messages",
                left=[
                    websocket_api.metric(name, period=minute, statistic="Sum", label=label)
                    for name, label in (("ConnectCount", "connects"), ("MessageCount", "messages"))
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="WebSocket errors",
                left=[
                    websocket_api.metric(name, period=minute, statistic="Sum", label=label)
                    for name, label in (
                        ("IntegrationError", "integration errors"),
                        ("ExecutionError", "execution errors"),
                        ("ClientError", "client errors (incl. refused tickets)"),
                    )
                ],
                width=12,
            ),
        ]
        if "ai_responder" in functions:
            responder = functions["ai_responder"]
            realtime_row.append(
                cloudwatch.GraphWidget(
                    title="AI reply time (ms, ai_responder duration)",
                    left=[
                        responder.metric_duration(period=minute, statistic=s, label=f"reply {s}")
                        for s in ("p50", "p90", "p99")
                    ],
                    width=24,
                )
            )
        function_row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[
                    f.metric_errors(period=minute, statistic="Sum", label=n)
                    for n, f in sorted(functions.items())
                ],
                right=[
                    f.metric_throttles(period=minute, statistic="Sum", label=f"{n} throttles")
                    for n, f in sorted(functions.items())
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function duration p99 (ms)",
                left=[
                    f.metric_duration(period=minute, statistic="p99", label=n)
                    for n, f in sorted(functions.items())
                ],
                width=12,
            ),
        ]
        queue_row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Route queues: waiting and oldest age (s)",
                left=[
                    r.queue.metric_approximate_number_of_messages_visible(
                        period=minute, statistic="Maximum", label=f"{n} waiting"
                    )
                    for n, r in sorted(routes.items())
                ],
                right=[
                    r.queue.metric_approximate_age_of_oldest_message(
                        period=minute, statistic="Maximum", label=f"{n} oldest"
                    )
                    for n, r in sorted(routes.items())
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queues",
                left=[
                    r.dlq.metric_approximate_number_of_messages_visible(
                        period=minute, statistic="Maximum", label=f"{n} DLQ"
                    )
                    for n, r in sorted(routes.items())
                ],
                width=12,
            ),
        ]
        alarm_row: list[cloudwatch.IWidget] = [
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24)
        ]
        return cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(3),
            widgets=[alarm_row, api_row, realtime_row, function_row, queue_row],
        )
