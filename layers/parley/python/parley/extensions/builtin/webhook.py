"""`webhook`: forwards a chat's chosen events to an HTTPS endpoint, signed, with retries.

Each delivery is a POST whose body is the event's EventBridge detail, ``{"metadata", "data"}``, as
compact UTF-8 JSON, with these headers:

- ``X-Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``
- ``X-Parley-Event-Id``: ``metadata.event_id``; the same event is delivered at least once, so a
  receiver deduplicates on it.
- ``X-Parley-Event-Type``: the detail-type (``MessageStored``), or the name of another extension's
  event (``sentiment.scored``).

A receiver checks the signature over the raw body with :func:`verify` (standard library only: copy
it) and refuses timestamps older than a few minutes, so a captured request cannot be replayed later.

A delivery is tried up to three times inside the handler, with exponential backoff, on network
errors, 5xx and 429; any other answer (4xx, 3xx: redirects are not followed) fails at once. A failed
delivery fails the handler: the SDK reports it (ExtensionFailed, towards the circuit breaker) and the
extension's queue retries the event later. The secret is write-only: members read ``********``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from parley.catalog import Envelope
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension
from parley.settings import settings

SIGNATURE_HEADER = "X-Parley-Signature"
EVENT_ID_HEADER = "X-Parley-Event-Id"
EVENT_TYPE_HEADER = "X-Parley-Event-Type"
USER_AGENT = "Parley-Webhook/1.0"

Forwarded = Literal[
    "MessageStored",
    "UserJoined",
    "UserLeft",
    "TurnChanged",
    "ChatCompleted",
    "AIResponseCompleted",
    "sentiment.scored",
]
FORWARDED: tuple[Forwarded, ...] = get_args(Forwarded)
CORE_EVENTS = tuple(name for name in FORWARDED if "." not in name)
EXTENSION_EVENTS = tuple(name for name in FORWARDED if "." in name)


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: str = Field(
        pattern=r"^https?://\S+$",
        max_length=2048,
        description="Where each event is POSTed: an https:// URL (http:// only where the platform "
        "allows it, as the local stack does).",
    )
    secret: SecretStr = Field(
        min_length=16,
        max_length=256,
        json_schema_extra={"writeOnly": True},
        description="The HMAC-SHA256 key the receiver verifies with. Write-only: members read "
        "`********`; send `********` back to keep it.",
    )
    events: list[Forwarded] = Field(
        default=list(FORWARDED),
        min_length=1,
        max_length=len(FORWARDED),
        description="Which events to forward (detail-types, or other extensions' event names); by "
        "default all of them.",
    )


extension: Extension[WebhookConfig] = Extension(
    Manifest(
        id="webhook",
        version="1.0.0",
        name="Webhook",
        description="Forwards the chat's events to an HTTPS endpoint, signed with HMAC-SHA256.",
        events=CORE_EVENTS,
        extension_events=EXTENSION_EVENTS,
        config_model=WebhookConfig,
    )
)


# -- signing ---------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Parley-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str, header: str, body: bytes, tolerance: float = 300, *, now: float | None = None
) -> bool:
    """What a receiver runs (standard library only: copy it, with its imports hashlib, hmac, time).

    True if ``header`` (the ``X-Parley-Signature`` value) signs ``body`` (the raw request body, as
    bytes, before any JSON parsing) with ``secret``, and its timestamp is within ``tolerance``
    seconds of now. Several ``v1=`` entries are accepted (any one may match).
    """
    timestamp, signatures = "", []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not timestamp.isdigit() or not signatures:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


# -- where it may deliver --------------------------------------------------------------------------


class WebhookConfigError(ValueError):
    """The URL may not be delivered to here (scheme or host); retrying cannot help."""


def url_problem(url: str, *, allow_http: bool) -> str | None:
    """Why ``url`` is refused, or None. Without ``allow_http`` (AWS): https only, and never a
    loopback, private or link-local address; with it (the local stack) http and local hosts too."""
    parts = urlsplit(url)
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return f"the webhook URL must use https, not {parts.scheme or 'nothing'}"
    host = parts.hostname
    if not host:
        return "the webhook URL has no host"
    if allow_http:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "the webhook URL may not point at this machine"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name
    if not address.is_global:
        return "the webhook URL may not point at a loopback, private or link-local address"
    return None


# -- delivery --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """Attempts within one handler run; all of them must fit the SDK's handler deadline (10 s)."""

    attempts: int = 3
    timeout_seconds: float = 2.5
    backoff_seconds: float = 0.25

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based): 0.25 s, 0.5 s, 1 s..."""
        return float(self.backoff_seconds * 2 ** (attempt - 1))


RETRY = Retry()

Transport = Callable[[str, bytes, Mapping[str, str], float], int]
"""POST (url, body, headers, timeout) and return the status; raise OSError on a network error."""


class DeliveryError(RuntimeError):
    """The endpoint did not take the event (its status, or None for a network error)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def retryable(status: int | None) -> bool:
    """Network errors (None), 429 and 5xx may pass on a later attempt; other answers will not."""
    return status is None or status == 429 or status >= 500


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (3xx), not somewhere else to send a signed body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as answered:
        answered.close()
        return answered.code


def send(
    url: str,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    retry: Retry = RETRY,
    transport: Transport = post,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> int:
    """POST ``body`` signed afresh at each attempt; the accepting status, or DeliveryError. Errors
    name the host only: a URL's path or query may itself be a credential."""
    host = urlsplit(url).hostname or "?"
    for attempt in range(1, retry.attempts + 1):
        signed = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **headers,
            SIGNATURE_HEADER: sign(secret, int(clock()), body),
        }
        status: int | None
        try:
            status = transport(url, body, signed, retry.timeout_seconds)
            outcome = f"answered {status}"
        except (OSError, http.client.HTTPException) as exc:
            status, outcome = None, f"could not be reached ({type(exc).__name__}: {exc})"[:300]
        if status is not None and 200 <= status < 300:
            return status
        if not retryable(status) or attempt == retry.attempts:
            raise DeliveryError(f"{host} {outcome} (attempt {attempt} of {retry.attempts})", status)
        sleep(retry.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def event_name(event: Envelope[Any]) -> str:
    """The name a config's ``events`` uses: the detail-type, or an extension event's own name."""
    if event.event_type == "ExtensionEvent":
        name: str = event.data.name
        return name
    return event.event_type


def forward(event: Envelope[Any], ctx: Context[WebhookConfig]) -> None:
    name = event_name(event)
    config = ctx.config
    if name not in config.events:
        return
    if ctx.install.shadow:  # the core records a shadow install's outputs; a POST it cannot hold back
        return
    problem = url_problem(config.url, allow_http=settings().webhook_allow_http)
    if problem:
        raise WebhookConfigError(problem)
    send(
        config.url,
        config.secret.get_secret_value(),
        event.to_json().encode(),
        {EVENT_ID_HEADER: event.metadata.event_id, EVENT_TYPE_HEADER: name},
        retry=RETRY,
    )


for _name in FORWARDED:
    extension.on(_name)(forward)
