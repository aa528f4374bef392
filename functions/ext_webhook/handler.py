"""The `webhook` extension's Lambda: its queue's batches of the chat events it forwards."""

from parley.extensions.builtin.webhook import extension
from parley.root import extension_runtime

lambda_handler = extension.handler(runtime=extension_runtime)
