"""The `welcome` extension's Lambda: its queue's batches, and (for hooks) synchronous invokes."""

from parley.extensions.builtin.welcome import extension

lambda_handler = extension.lambda_handler
