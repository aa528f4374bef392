"""Domain errors. The HTTP edge maps them to status codes in one place (parley.http.errors)."""

from __future__ import annotations

from typing import Any, Literal


class ParleyError(Exception):
    """Base of every expected failure; ``code`` is stable and machine-readable, never the message."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotAuthenticatedError(ParleyError):
    code = "not_authenticated"


class ChatNotFoundError(ParleyError):
    """Also raised for chats the caller is not a member of, so outsiders learn nothing."""

    code = "chat_not_found"


class ForbiddenError(ParleyError):
    code = "forbidden"


class InvalidRequestError(ParleyError):
    code = "invalid_request"


class ChatCompletedError(ParleyError):
    code = "chat_completed"


class ChatFullError(ParleyError):
    """The chat holds ``MAX_PARTICIPANTS`` already: its item has a size budget (parley.domain.model)."""

    code = "chat_full"


class NotYourTurnError(ParleyError):
    code = "not_your_turn"


class AlreadyMemberError(ParleyError):
    code = "already_member"


class RateLimitedError(ParleyError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class ConcurrentWriteError(ParleyError):
    """Another writer changed the chat first; the command is retried from a fresh read."""

    code = "conflict"


class ContentionError(ParleyError):
    """A command kept losing the optimistic-concurrency race; the client may retry."""

    code = "contention"


class MetricsUnavailableError(ParleyError):
    """CloudWatch did not answer a metrics read; the caller may retry."""

    code = "metrics_unavailable"


class PublishError(ParleyError):
    """PutEvents refused entries that retries could not deliver; they stay in the outbox."""

    code = "publish_failed"


class EventTooLargeError(PublishError):
    code = "event_too_large"


class BusRulesError(ParleyError):
    """The bus's rules could not be listed: the relay then publishes every event."""

    code = "bus_rules_unavailable"


class ChangeTooLargeError(ParleyError):
    """The change's event would not fit on the bus: refused before the commit, since a committed
    event that can never be published would wait in the outbox forever."""

    code = "too_large"


class MessageRejectedError(ParleyError):
    """A moderation hook (or the chat's fallback when the hook failed) refused the message."""

    code = "message_rejected"


class ExtensionNotFoundError(ParleyError):
    code = "extension_not_found"


class MessageNotFoundError(ParleyError):
    """No such message in the chat (for actions: no extension's message with blocks by that id)."""

    code = "message_not_found"


class StaleUpdateError(ParleyError):
    """An extension's update carries a ``revision`` at or below the one its message shows: a newer
    state arrived first, so this one is dropped (recorded, never retried)."""

    code = "stale_update"


class InvalidConfigError(InvalidRequestError):
    """An extension config failed its schema; ``fields`` names each bad field."""

    code = "invalid_config"


# -- failures of outside calls -------------------------------------------------------------------
# Adapters raise these ``from`` the AWS SDK's (or PynamoDB's) exception, so the code that catches
# them never imports the SDK. They are not ParleyErrors: no edge turns one into a client's answer.

ProviderFailure = Literal["model_error", "throttled", "timeout"]


class ProviderError(Exception):
    """The model could not answer; ``reason`` is the one AIResponseFailed reports."""

    def __init__(self, reason: ProviderFailure, detail: str) -> None:
        super().__init__(detail)
        self.reason: ProviderFailure = reason
        self.detail = detail


class HookTimeoutError(Exception):
    """The hook did not answer within its budget."""


class HookFailedError(Exception):
    """The hook's function raised, or could not be invoked at all."""


class PushFailedError(Exception):
    """A push to a live socket failed after the SDK's retries (a closed one is ConnectionGoneError)."""


class StoreError(Exception):
    """A table write failed after the SDK's retries."""
