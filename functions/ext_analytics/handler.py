"""The `analytics` extension's Lambda: its queue's batches of the chat events it counts."""

from parley.extensions.builtin.analytics import extension
from parley.root import extension_runtime

lambda_handler = extension.handler(runtime=extension_runtime)
