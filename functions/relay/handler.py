"""Relay Lambda: the outbox's publish step. Each committed event row (the events table's stream) goes
on the bus, then feeds the inbox read model."""

from collections.abc import Sequence
from typing import Any

from parley.catalog import Envelope
from parley.consumers.streams import stream_batch_consumer
from parley.observability import instrument
from parley.root import relay
from parley.routing import route


def on_batch(envelopes: Sequence[Envelope[Any]]) -> set[str]:
    return relay()(envelopes)


lambda_handler = instrument()(stream_batch_consumer(route("relay"), on_batch))
