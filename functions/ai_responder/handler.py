"""AI responder Lambda: answers AIResponseRequested by streaming a model's reply into the chat.

Batch size 1: each record is a streamed reply lasting seconds, and one slow model must not hold
other chats' replies behind it in the same invocation.
"""

from typing import Any

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument
from parley.root import ai_responder, announce
from parley.routing import route


def on_event(envelope: Envelope[Any]) -> None:
    ai_responder().respond(envelope)


lambda_handler = instrument()(sqs_consumer(route("ai_responder"), on_event, report=announce))
