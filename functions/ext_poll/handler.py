"""The `poll` extension's Lambda: its queue's slash commands and votes."""

from parley.extensions.builtin.poll import extension
from parley.root import extension_runtime

lambda_handler = extension.handler(runtime=extension_runtime)
