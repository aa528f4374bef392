"""Turns Lambda: after a post, a join or a leave, move the floor and emit TurnChanged.

No Powertools idempotency record here on purpose: the handler reconciles the turn with the chat's
current state under a version condition, so a duplicate or a late event simply finds nothing to do.
"""

from typing import Any

from parley.catalog import Envelope
from parley.consumers import sqs_consumer
from parley.observability import instrument
from parley.root import announce, chat_service
from parley.routing import route


def on_event(envelope: Envelope[Any]) -> None:
    chat_service().advance_turn(envelope.metadata.chat_id, cause=envelope)


lambda_handler = instrument()(sqs_consumer(route("turns"), on_event, report=announce))
