"""One HTTP exchange with retries, shared by the sync and the async client (the async one runs it in a
worker thread): which answers are safe to retry, how long to wait, and the typed error at the end."""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from parley_client.errors import UnreachableError, api_error

USER_AGENT = "parley-client/0.1"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str | int | None] = field(default_factory=dict)
    body: Any = None
    accept: str = "application/json"
    idempotent: bool = True
    """Safe to send again after a lost answer: reads, PUT/DELETE, and posts that carry a retry key."""
    auth: bool = True

    def url(self, base: str) -> str:
        query = {k: str(v) for k, v in self.query.items() if v is not None}
        return base.rstrip("/") + self.path + (f"?{urllib.parse.urlencode(query)}" if query else "")


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def retry_after(self) -> float | None:
        """``Retry-After`` in seconds (either form RFC 9110 allows), or None when absent or unreadable."""
        value = next((v for k, v in self.headers.items() if k.lower() == "retry-after"), None)
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Transport(Protocol):
    """Sends one request; raises ``OSError`` (``URLError`` included) when no answer came back."""

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response: ...


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> Response:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers), error.read())
    except http.client.HTTPException as exc:  # e.g. RemoteDisconnected mid-answer: no answer either
        raise ConnectionError(str(exc)) from exc


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded: at most ``attempts`` sends, exponential backoff with full jitter up to ``max_delay``,
    and a ``Retry-After`` honoured up to ``max_retry_after`` (a longer wait is the caller's call)."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before send number ``attempt + 1``, or None to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def retryable(request: Request, status: int | None) -> bool:
    """429 and 503 promise nothing was done; other 5xx and lost answers only when resending is safe."""
    if status in (429, 503):
        return True
    if status is None or status in (500, 502, 504):
        return request.idempotent
    return False


TokenSource = Callable[[bool], str | None]
"""Gives the bearer token; called with True after a 401, to get a fresh one (or None: none fresher)."""


@dataclass
class Session:
    base_url: str
    token: TokenSource
    transport: Transport = urllib_transport
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, request: Request) -> Response:
        """The 2xx answer; else the server's error as ``ApiError``, or ``UnreachableError``."""
        attempt, refreshed = 0, False
        token = self.token(False) if request.auth else None
        while True:
            attempt += 1
            failure: OSError | None = None
            try:
                response: Response | None = self._send(request, token)
            except OSError as exc:
                response, failure = None, exc
            if response is not None and response.status == 401 and request.auth and not refreshed:
                refreshed, fresh = True, self.token(True)
                if fresh is not None and fresh != token:
                    token, attempt = fresh, attempt - 1
                    continue
            if response is not None and response.status < 400:
                return response
            status = response.status if response is not None else None
            wait = self.retry.delay(attempt, response.retry_after() if response else None)
            if wait is None or not retryable(request, status):
                if response is None:
                    raise UnreachableError(
                        f"{request.method} {request.url(self.base_url)}: {failure}"
                    ) from failure
                raise api_error(response.status, _body(response), response.retry_after())
            self.sleep(wait)

    def _send(self, request: Request, token: str | None) -> Response:
        headers = {"accept": request.accept, "user-agent": USER_AGENT}
        body = None
        if request.body is not None:
            headers["content-type"] = "application/json"
            body = json.dumps(request.body, separators=(",", ":")).encode()
        if token:
            headers["authorization"] = f"Bearer {token}"
        return self.transport(request.method, request.url(self.base_url), headers, body, self.timeout)


def _body(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.body.decode(errors="replace")
