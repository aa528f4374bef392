"""The `workflows` extension's Lambda: its queue's batches, and (for hooks) synchronous invokes."""

from parley.extensions.builtin.workflows import extension
from parley.root import extension_runtime

lambda_handler = extension.handler(runtime=extension_runtime)
