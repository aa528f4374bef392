"""Broadcaster Lambda: pushes each client-visible event to the chat members' sockets."""

from typing import Any

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument
from parley.root import announce, broadcaster
from parley.routing import route


def on_event(envelope: Envelope[Any]) -> None:
    broadcaster().broadcast(envelope)


lambda_handler = instrument()(sqs_consumer(route("broadcaster"), on_event, report=announce))
