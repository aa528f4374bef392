"""The `sentiment` extension's Lambda: its queue's batches of stored messages."""

from parley.extensions.builtin.sentiment import extension
from parley.root import extension_runtime

lambda_handler = extension.handler(runtime=extension_runtime)
