"""The event bus and one rule per routing-table entry, each into its own queue with its own DLQ."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
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
        acknowledge(
            self.dlq,
            "Serverless-SQSRedrivePolicy",
            "This is the route's dead-letter queue, the end of the line: its messages wait (14 days, "
            "alarmed) for an operator to inspect and redrive them.",
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            # Lambda's guidance: at least six times the consumer's timeout, so a record still being
            # worked on (or retried by the poller) never becomes visible to a second invocation
            visibility_timeout=Duration.seconds(6 * function_timeout.to_seconds()),
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
    """The ``parley`` bus, its replay archive, and a rule -> queue -> DLQ per routing-table entry.

    ``consumer_timeouts`` maps each route to build to its consuming function's timeout (from the
    function spec list), which sizes that route's queue visibility timeout.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, consumer_timeouts: Mapping[str, Duration]
    ) -> None:
        super().__init__(scope, construct_id)
        built = [r for r in ROUTES if r.name in consumer_timeouts]
        direct = [r.name for r in built if r.delivery != "queue"]
        if direct:
            raise NotImplementedError(
                f"routes {direct} use direct delivery, which the stack does not build yet"
            )
        self.bus = events.EventBus(self, "Bus", event_bus_name="parley")
        self.archive = self.bus.archive(
            "Archive",
            event_pattern=events.EventPattern(source=events.Match.prefix("parley.")),
            retention=Duration.days(30),
            description="Every Parley event, for replay",
        )
        self.routes = {
            route.name: RouteQueues(
                self,
                f"Route-{route.name}",
                bus=self.bus,
                route=route,
                function_timeout=consumer_timeouts[route.name],
            )
            for route in built
        }
