"""Inbox Lambda: each MessageStored moves its chat's latest-message row and its poster's read marker.

No idempotency record: every write is conditioned on a sequence, so a duplicate or a late event
changes nothing."""

from typing import Any

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument
from parley.root import announce, inbox_service
from parley.routing import route


def on_event(envelope: Envelope[Any]) -> None:
    inbox_service().project(envelope)


lambda_handler = instrument()(sqs_consumer(route("inbox"), on_event, report=announce))
