"""The event bus and one rule per routing-table entry, each into its own queue with its own DLQ.

Stream routes (``Route.delivery == "stream"``: the broadcaster, the relay) have no rule and no queue:
their function reads the events table's stream (``infra.functions.consume_stream``), and their DLQ,
built here, is the event source mapping's on-failure destination.

The core's routes are built here; each extension's route is built by its ``ParleyExtension``
(``infra.extensions``) from the same pieces (``dead_letter_queue``, ``route_rule``, ``RouteQueues``),
so a rule looks the same whoever adds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from parley.extensions.manifest import FOR_THE_GATEWAY_ONLY
from parley.routing import Route

DLQ_RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str = "Dlq") -> sqs.Queue:
    """A route's dead-letter queue: encrypted, TLS only, kept 14 days for an operator to redrive."""
    dlq = sqs.Queue(
        scope,
        construct_id,
        retention_period=DLQ_RETENTION,
        enforce_ssl=True,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
    )
    acknowledge(
        dlq,
        "Serverless-SQSRedrivePolicy",
        "This is the route's dead-letter queue, the end of the line: its messages wait (14 days, "
        "alarmed) for an operator to inspect and redrive them.",
    )
    return dlq


def route_rule(
    scope: Construct, construct_id: str, *, bus: events.IEventBus, route: Route, target: events.IRuleTarget
) -> events.Rule:
    """The route's rule on the bus, with exactly the routing table's pattern (``Route.pattern``)."""
    return events.Rule(
        scope,
        construct_id,
        event_bus=bus,
        description=route.description[:512],
        event_pattern=events.EventPattern(
            source=_sources(route),
            detail_type=list(route.event_types),
            detail=dict(route.detail_filter) or None,
        ),
        targets=[target],
    )


def _sources(route: Route) -> list[str]:
    """The pattern's ``source`` list: exact sources, then ``{"prefix": ...}`` matchers."""
    if not route.source_prefixes:
        return list(route.sources)
    matchers = [events.Match.exact_string(s) for s in route.sources]
    matchers += [events.Match.prefix(p) for p in route.source_prefixes]
    return matchers[0] if len(matchers) == 1 else events.Match.any_of(*matchers)


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
        if route.delivery != "queue":
            raise NotImplementedError(
                f"route {route.name} uses direct delivery, which the stack does not build"
            )
        self.dlq = dead_letter_queue(self)
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
        self.rule = route_rule(
            self,
            "Rule",
            bus=bus,
            route=route,
            target=targets.SqsQueue(
                self.queue,
                dead_letter_queue=self.dlq,
                retry_attempts=route.retry.max_attempts,
                max_event_age=Duration.seconds(route.retry.max_event_age_seconds),
            ),
        )


class StreamRoute(Construct):
    """A stream route's on-failure destination: the position of a batch that kept failing lands here
    (AWS's ``DDBStreamBatchInfo``, never the records), for an operator to read back and redrive
    within the stream's 24 h."""

    def __init__(self, scope: Construct, construct_id: str, *, route: Route) -> None:
        super().__init__(scope, construct_id)
        if route.delivery != "stream":
            raise ValueError(f"route {route.name} is not read from the stream")
        self.route = route
        self.dlq = dead_letter_queue(self)
        acknowledge(
            self.dlq,
            "AwsSolutions-SQS3",
            "This queue is a dead-letter queue: the on-failure destination of the route's event source "
            "mapping on the events table's stream (cdk-nag only recognizes one named by a queue's "
            "redrive policy).",
        )


class Bus(Construct):
    """The ``parley`` bus (``bus_name``, one per stage), its replay archive, a rule -> queue -> DLQ
    per core queue route and a DLQ per stream route.

    ``consumer_timeouts`` maps each route to build to its consuming function's timeout (from the
    function spec list), which sizes that route's queue visibility timeout.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: Iterable[Route],
        consumer_timeouts: Mapping[str, Duration],
        bus_name: str = "parley",
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        self.archive = self.bus.archive(
            "Archive",
            # but a message for one member's eyes only: never stored, so never archived or replayed
            event_pattern=events.EventPattern(
                source=events.Match.prefix("parley."),
                detail_type=events.Match.anything_but(*sorted(FOR_THE_GATEWAY_ONLY)),
            ),
            retention=Duration.days(30),
            description="Every Parley event but ephemeral messages, for replay",
        )
        routes = tuple(routes)
        self.routes = {
            route.name: RouteQueues(
                self,
                f"Route-{route.name}",
                bus=self.bus,
                route=route,
                function_timeout=consumer_timeouts[route.name],
            )
            for route in routes
            if route.delivery != "stream"
        }
        self.streams = {
            route.name: StreamRoute(self, f"Stream-{route.name}", route=route)
            for route in routes
            if route.delivery == "stream"
        }
