"""Extension gateway Lambda: the core's check on everything extensions send to the bus.

Each event is applied (a bot message, an AI context, a failure count) only if the extension holds
the capability and is enabled on the chat, and the chat can take it; otherwise the refusal is final
(acked): recorded as ExtensionEventRejected where the sender is enabled, logged and counted always.
"""

from typing import Any

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument
from parley.root import announce, extension_service
from parley.routing import route


def on_event(envelope: Envelope[Any], source: str | None) -> None:
    extension_service().accept(envelope, source)


lambda_handler = instrument()(
    sqs_consumer(route("extension_gateway"), on_event, with_source=True, report=announce)
)
