"""What a call can fail with: the server's refusal (its code, message and fields) or no answer at all."""

from __future__ import annotations

from typing import Any


class ParleyClientError(Exception):
    """Base of every error this package raises, so a caller can catch them all at once."""


class UnreachableError(ParleyClientError):
    """No HTTP answer: the server could not be reached, or the connection broke (after the retries)."""


class ApiError(ParleyClientError):
    """The server answered with an error; ``code``, ``message`` and ``fields`` are the body's, as sent."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[dict[str, Any]] | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.details = details or {}
        self.retry_after = retry_after


class UnauthorizedError(ApiError):
    """401: no token, or an expired or forged one."""


class ForbiddenError(ApiError):
    """403: signed in, but not allowed (not an owner or moderator, not an operator)."""


class NotFoundError(ApiError):
    """404: no such chat or install, or not a member (outsiders see 404 on every chat route)."""


class ConflictError(ApiError):
    """409: refused by the chat's state, e.g. out of turn, completed, or the member already left."""


class InvalidRequestError(ApiError):
    """400, 413, 415 or 422: the request breaks the API's schema; ``fields`` names each problem."""


class RateLimitedError(ApiError):
    """429: over a rate limit; ``retry_after`` says when to try again."""


class UnavailableError(ApiError):
    """503 (or another 5xx): the server could not do it now; nothing was changed."""


class LiveError(ParleyClientError):
    """The live stream cannot go on: the server refused a subscription (``code`` and ``message`` are
    its Error frame's), or reconnecting kept failing."""

    def __init__(self, message: str, *, code: str = "live_failed") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AIReplyFailedError(ParleyClientError):
    """The AI reply being streamed ended in AIResponseFailed; ``reason`` and ``detail`` are its data."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"the AI reply failed ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitedError,
}


def api_error(status: int, body: Any, retry_after: float | None) -> ApiError:
    """The typed error for an error answer; bodies without Parley's ``error`` object (the gateway's
    own 401 ``{"message"}``, a proxy's HTML page) still give a code and a message."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = str(error.get("code", "http_error")), str(error.get("message", ""))
        fields, details = list(error.get("fields") or []), dict(error.get("details") or {})
    else:
        message = str(body.get("message", "")) if isinstance(body, dict) else str(body or "")[:200]
        code, fields, details = ("unauthorized" if status == 401 else "http_error"), [], {}
    kind = _BY_STATUS.get(status, UnavailableError if status >= 500 else ApiError)
    return kind(status, code, message, fields=fields, details=details, retry_after=retry_after)


class CommandSentError(ParleyClientError):
    """``send`` posted a slash command (the server answered 202): no message was stored, the command's
    extension got it. ``accepted`` is the server's answer; ``Client.command`` returns it instead."""

    def __init__(self, accepted: Any) -> None:
        super().__init__(f"/{accepted.command} went to extension {accepted.extension_id}; no message stored")
        self.accepted = accepted
