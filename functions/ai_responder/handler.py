"""AI responder Lambda: answers AIResponseRequested by streaming a model's reply into the chat.

Batch size 1: each record is a streamed reply lasting seconds, and one slow model must not hold
other chats' replies behind it in the same invocation.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument, metrics
from parley.root import ai_responder, announce
from parley.routing import route

OUTCOME_METRICS = {"replied": "AIResponderCompleted", "failed": "AIResponderFailed"}
"""Counted here, for every chat (analytics counts only where it is installed): the failure-rate alarm
reads these two."""


def on_event(envelope: Envelope[Any]) -> None:
    outcome = ai_responder().respond(envelope)
    metric = OUTCOME_METRICS.get(outcome.partition(":")[0])
    if metric is not None:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


lambda_handler = instrument()(sqs_consumer(route("ai_responder"), on_event, report=announce))
