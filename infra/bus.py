"""The event bus and one rule per routing-table entry, each into its own queue with its own DLQ."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from parley.routing import ROUTES, Route


class RouteQueues(Construct):
    """The queue and dead-letter queue of one route, and its rule on the bus."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        route: Route,
        function_timeout: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            retention_period=Duration.days(14),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            # Lambda's guidance: at least six times the function timeout, so retries never overlap
            visibility_timeout=Duration.seconds(max(6 * function_timeout.to_seconds(), 30)),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=route.retry.max_attempts),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            rule_name=None,
            description=route.description,
            event_pattern=events.EventPattern(
                source=list(route.sources),
                detail_type=list(route.event_types),
                detail=dict(route.detail_filter) or None,
            ),
            targets=[
                targets.SqsQueue(
                    self.queue,
                    dead_letter_queue=self.dlq,
                    retry_attempts=route.retry.max_attempts,
                    max_event_age=Duration.seconds(route.retry.max_event_age_seconds),
                )
            ],
        )


class Bus(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function_timeout: Duration) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name="parley")
        self.archive = self.bus.archive(
            "Archive",
            event_pattern=events.EventPattern(source=events.Match.prefix("parley.")),
            retention=Duration.days(30),
            description="Every Parley event, for replay",
        )
        self.routes = {
            route.name: RouteQueues(
                self, f"Route-{route.name}", bus=self.bus, route=route, function_timeout=function_timeout
            )
            for route in ROUTES
        }
