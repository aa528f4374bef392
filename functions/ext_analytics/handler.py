"""The `analytics` extension's Lambda: its queue's batches, with EMF metrics flushed per invocation."""

from parley.extensions.builtin.analytics import extension
from parley.observability import instrument

lambda_handler = instrument()(extension.lambda_handler)
