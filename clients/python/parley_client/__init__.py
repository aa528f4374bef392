"""Parley's Python client: ``Client`` (blocking), ``AsyncClient`` (asyncio, with ``live()``), and the
``parley`` command line (``parley_client.cli``)."""

from parley_client._http import RetryPolicy
from parley_client.client import AsyncClient, Client
from parley_client.errors import (
    AIReplyFailedError,
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    LiveError,
    NotFoundError,
    ParleyClientError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    UnreachableError,
)
from parley_client.live import Live
from parley_client.local import local_token
from parley_client.models import LiveEvent, Withheld

__all__ = [
    "AIReplyFailedError",
    "ApiError",
    "AsyncClient",
    "Client",
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "Live",
    "LiveError",
    "LiveEvent",
    "NotFoundError",
    "ParleyClientError",
    "RateLimitedError",
    "RetryPolicy",
    "UnauthorizedError",
    "UnavailableError",
    "UnreachableError",
    "Withheld",
    "local_token",
]
