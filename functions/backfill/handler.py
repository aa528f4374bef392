"""Backfill Lambda: an ExtensionActivated that asked for history hands the extension the chat's past.

No idempotency record: a second delivery hands the same events again, which the extension's claims
(or its idempotent writes) make change nothing."""

from typing import Any

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument
from parley.root import announce, backfill_service
from parley.routing import route


def on_event(envelope: Envelope[Any]) -> None:
    backfill_service().on_activated(envelope)


lambda_handler = instrument()(sqs_consumer(route("backfill"), on_event, report=announce))
