"""Broadcaster Lambda: pushes each client-visible event, from the events table's stream, to the chat
members' sockets."""

from typing import Any

from parley.catalog import Envelope
from parley.consumers.streams import stream_consumer
from parley.observability import instrument
from parley.root import broadcaster
from parley.routing import route


def on_event(envelope: Envelope[Any], origin_connection_id: str | None) -> None:
    broadcaster().broadcast(envelope, origin_connection_id=origin_connection_id)


lambda_handler = instrument()(stream_consumer(route("broadcaster"), on_event))
