"""The `webhook` extension's Lambda: its queue's batches of the chat events it forwards."""

from parley.extensions.builtin.webhook import extension

lambda_handler = extension.lambda_handler
