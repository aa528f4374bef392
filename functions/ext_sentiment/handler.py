"""The `sentiment` extension's Lambda: its queue's batches of stored messages."""

from parley.extensions.builtin.sentiment import extension

lambda_handler = extension.lambda_handler
