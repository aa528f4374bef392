"""The `moderation` extension's Lambda: its queue's batches, and (for hooks) synchronous invokes."""

from parley.extensions.builtin.moderation import extension

lambda_handler = extension.lambda_handler
