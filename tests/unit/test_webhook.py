"""The webhook extension's pure parts: signing and verifying, where it may deliver, and retries."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import pytest

from parley.extensions.builtin import webhook
from parley.extensions.builtin.webhook import (
    SIGNATURE_HEADER,
    DeliveryError,
    Retry,
    WebhookConfig,
    retryable,
    send,
    sign,
    url_problem,
    verify,
)

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"metadata":{"event_id":"e-1"},"data":{"text":"h\xc3\xa9"}}'
NOW = 1_800_000_000


# -- signing and verifying -------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Given a secret, a body and a time
    # When the body is signed
    header = sign(SECRET, NOW, BODY)

    # Then the header carries the timestamp and the hex HMAC of "<t>.<body>"
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_receiver_verifies_a_fresh_signature() -> None:
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + 10)


@pytest.mark.parametrize(
    ("secret", "body", "at"),
    [
        ("another-secret-of-16", BODY, NOW),  # signed with another key
        (SECRET, BODY.replace(b"e-1", b"e-2"), NOW),  # the body was changed
        (SECRET, BODY, NOW + 301),  # replayed after the tolerance
        (SECRET, BODY, NOW - 301),  # from the future beyond the tolerance
    ],
    ids=["wrong-secret", "tampered-body", "too-old", "too-new"],
)
def test_a_receiver_refuses_what_does_not_verify(secret: str, body: bytes, at: int) -> None:
    # Given a delivery signed at NOW with SECRET
    header = sign(SECRET, NOW, BODY)

    # When it is checked with another key, another body or much later
    # Then it does not verify
    assert not verify(secret, header, body, tolerance=300, now=at)


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", f"t={NOW}", f"t=soon,v1={'0' * 64}", f"t={NOW},v1=", "garbage"],
)
def test_a_malformed_header_never_verifies(header: str) -> None:
    assert not verify(SECRET, header, BODY, now=NOW)


def test_any_of_several_signatures_may_match() -> None:
    # Given a header with an old key's signature and the current one (a key rotation)
    current = sign(SECRET, NOW, BODY).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{current}"

    # Then it verifies
    assert verify(SECRET, header, BODY, now=NOW)


# -- where it may deliver --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://hooks.example.com/parley?team=1", False, None),
        ("http://hooks.example.com/parley", False, "must use https"),
        ("http://127.0.0.1:8765/hook", True, None),
        ("https://127.0.0.1/hook", False, "loopback, private or link-local"),
        ("https://10.0.0.7/hook", False, "loopback, private or link-local"),
        ("https://169.254.169.254/latest", False, "loopback, private or link-local"),
        ("https://[::1]/hook", False, "loopback, private or link-local"),
        ("https://localhost/hook", False, "this machine"),
        ("ftp://example.com/x", True, "must use https"),
        ("https:///nohost", False, "no host"),
    ],
)
def test_urls_are_https_to_public_hosts_unless_the_platform_allows_local(
    url: str, allow_http: bool, problem: str | None
) -> None:
    found = url_problem(url, allow_http=allow_http)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_the_config_schema_marks_the_secret_write_only_and_lists_the_events() -> None:
    schema = webhook.extension.manifest.config_schema()
    assert schema["properties"]["secret"]["writeOnly"] is True
    assert schema["properties"]["secret"]["minLength"] == 16
    assert set(schema["required"]) == {"url", "secret"}
    assert schema["properties"]["events"]["items"]["enum"] == list(webhook.FORWARDED)
    # and the manifest subscribes to exactly what a config may choose
    manifest = webhook.extension.manifest
    assert (*manifest.events, *manifest.extension_events) == webhook.FORWARDED
    assert manifest.extension_events == ("sentiment.scored",)


def test_the_secret_is_hidden_from_repr_and_logs() -> None:
    config = WebhookConfig.model_validate({"url": "https://example.com", "secret": SECRET})
    assert SECRET not in repr(config)
    assert config.secret.get_secret_value() == SECRET


# -- retries ---------------------------------------------------------------------------------------


class FakeEndpoint:
    """Answers each POST with the next scripted status, or raises the scripted network error."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, bytes, dict[str, str], float]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.calls.append((url, body, dict(headers), timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def deliver(endpoint: FakeEndpoint, sleeps: list[float], retry: Retry = webhook.RETRY) -> int:
    clock = iter(range(NOW, NOW + 100))
    return send(
        "https://hooks.example.com/secret-path?token=abc",
        SECRET,
        BODY,
        {"X-Parley-Event-Id": "e-1"},
        retry=retry,
        transport=endpoint,
        sleep=sleeps.append,
        clock=lambda: next(clock),
    )


@pytest.mark.parametrize(
    ("status", "retried"),
    [(None, True), (429, True), (500, True), (503, True), (400, False), (401, False), (404, False),
     (409, False), (410, False), (422, False), (301, False)],
)  # fmt: skip
def test_network_errors_429_and_5xx_are_retried_other_answers_are_not(
    status: int | None, retried: bool
) -> None:
    assert retryable(status) is retried


def test_a_delivery_that_fails_then_passes_is_retried_with_exponential_backoff() -> None:
    # Given an endpoint that is down, then overloaded, then fine
    endpoint = FakeEndpoint(ConnectionRefusedError("refused"), 503, 204)
    sleeps: list[float] = []

    # When the event is sent
    status = deliver(endpoint, sleeps)

    # Then it took three attempts, waiting 0.25 s then 0.5 s, each signed afresh with a short timeout
    assert status == 204
    assert sleeps == [0.25, 0.5]
    assert [c[3] for c in endpoint.calls] == [2.5, 2.5, 2.5]
    stamps = [c[2][SIGNATURE_HEADER].split(",")[0] for c in endpoint.calls]
    assert len(set(stamps)) == 3
    for _, body, headers, _ in endpoint.calls:
        assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=NOW + 5)
        assert headers["X-Parley-Event-Id"] == "e-1"
        assert headers["Content-Type"] == "application/json"


def test_a_delivery_still_failing_after_every_attempt_raises_naming_the_host_only() -> None:
    endpoint = FakeEndpoint(500, 502, 500)
    sleeps: list[float] = []

    with pytest.raises(DeliveryError) as raised:
        deliver(endpoint, sleeps)

    assert raised.value.status == 500
    assert str(raised.value) == "hooks.example.com answered 500 (attempt 3 of 3)"
    assert "token" not in str(raised.value)
    assert "secret-path" not in str(raised.value)
    assert len(endpoint.calls) == 3
    assert sleeps == [0.25, 0.5]  # no wait after the last attempt


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 302])
def test_a_client_error_or_redirect_fails_at_once(status: int) -> None:
    endpoint = FakeEndpoint(status)
    sleeps: list[float] = []

    with pytest.raises(DeliveryError) as raised:
        deliver(endpoint, sleeps)

    assert raised.value.status == status
    assert len(endpoint.calls) == 1
    assert sleeps == []


def test_a_network_error_on_every_attempt_raises_with_no_status() -> None:
    endpoint = FakeEndpoint(TimeoutError("timed out"), OSError("reset"), TimeoutError("timed out"))

    with pytest.raises(DeliveryError) as raised:
        deliver(endpoint, [], Retry(attempts=3, timeout_seconds=0.1, backoff_seconds=0.01))

    assert raised.value.status is None
    assert "could not be reached (TimeoutError" in str(raised.value)


def test_every_attempt_fits_the_sdks_handler_deadline() -> None:
    # the SDK abandons a handler after 10 s (PARLEY_EXTENSION_HANDLER_TIMEOUT_SECONDS' default)
    retry = webhook.RETRY
    worst = retry.attempts * retry.timeout_seconds + sum(retry.delay(n) for n in range(1, retry.attempts))
    assert worst < 10
