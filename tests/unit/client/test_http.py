"""Retries and errors of one HTTP call: what is retried, how long it waits, and what it raises."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from parley_client import ApiError, Client, RateLimitedError, RetryPolicy, UnreachableError
from parley_client._http import Response
from parley_client.errors import (
    CommandSentError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from parley_client.models import AcceptedCommand
from tests.unit.client.fakes import CHAT, FakeApi, _json

NO_WAIT = RetryPolicy(attempts=5, base_delay=0.0, max_delay=0.0)


def client(api: FakeApi, sleeps: list[float]) -> Client:
    built = Client("http://fake", token="tok", transport=api, retry=NO_WAIT)
    built.session.sleep = sleeps.append
    return built


def busy(status: int, retry_after: str | None = None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return _json(status, {"error": {"code": "contention", "message": "busy"}}, headers)


def test_send_retries_lost_answers_and_busy_answers_with_one_key_and_stores_once() -> None:
    # Given a server that first drops the connection, then answers 503 with Retry-After, then 429
    api = FakeApi(script=[ConnectionResetError("reset"), busy(503, "2"), busy(429, "1")])
    sleeps: list[float] = []

    # When a message is sent
    message = client(api, sleeps).send(CHAT, "hello")

    # Then it went four times with one client_message_id, waited as told, and is stored once
    keys = {body["client_message_id"] for method, _, body in api.requests if method == "POST"}
    assert len(api.requests) == 4
    assert len(keys) == 1
    assert sleeps[1:] == [2.0, 1.0]
    assert list(api.posted) == list(keys)
    assert message.text == "hello"


def test_a_caller_given_key_is_sent_as_is() -> None:
    api = FakeApi()
    client(api, []).send(CHAT, "x", client_message_id="mine-1")
    client(api, []).send(CHAT, "x", client_message_id="mine-1")
    assert list(api.posted) == ["mine-1"]


def test_retries_are_bounded() -> None:
    api = FakeApi(script=[busy(503)] * 10)
    sleeps: list[float] = []
    with pytest.raises(UnavailableError) as raised:
        client(api, sleeps).send(CHAT, "hello")
    assert len(api.requests) == NO_WAIT.attempts
    assert len(sleeps) == NO_WAIT.attempts - 1
    assert raised.value.code == "contention"


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=2.0)
    waits = [policy.delay(n, None) for n in range(1, 10)]
    assert all(w is not None and 0 <= w <= 2.0 for w in waits)
    assert policy.delay(10, None) is None


def test_a_retry_after_beyond_the_bound_is_raised_not_slept() -> None:
    api = FakeApi(script=[busy(429, "3600")])
    sleeps: list[float] = []
    with pytest.raises(RateLimitedError) as raised:
        client(api, sleeps).send(CHAT, "hello")
    assert sleeps == []
    assert raised.value.retry_after == 3600.0


def test_a_lost_answer_to_a_create_is_not_resent() -> None:
    # a chat has no retry key: resending after a lost answer could create two
    api = FakeApi(script=[ConnectionResetError("reset")])
    with pytest.raises(UnreachableError):
        client(api, []).create_chat("t")
    assert len(api.requests) == 1


def test_a_busy_answer_to_a_create_is_resent() -> None:
    # 503 and 429 promise nothing was done
    api = FakeApi(script=[busy(503, "0"), _json(404, {"error": {"code": "x", "message": "y"}})])
    with pytest.raises(NotFoundError):
        client(api, []).create_chat("t")
    assert len(api.requests) == 2


def test_errors_carry_the_servers_code_message_and_fields() -> None:
    fields = [{"field": "body.text", "problem": "too long"}]
    answer = _json(422, {"error": {"code": "validation_error", "message": "bad", "fields": fields}})
    with pytest.raises(InvalidRequestError) as raised:
        client(FakeApi(script=[answer]), []).send(CHAT, "x")
    error = raised.value
    assert isinstance(error, ApiError)
    assert (error.status, error.code, error.message, error.fields) == (422, "validation_error", "bad", fields)


def test_the_gateways_own_401_is_an_unauthorized_error() -> None:
    with pytest.raises(UnauthorizedError) as raised:
        client(FakeApi(script=[_json(401, {"message": "Unauthorized"})]), []).chats()
    assert (raised.value.code, raised.value.message) == ("unauthorized", "Unauthorized")


def test_a_token_provider_is_asked_again_after_a_401() -> None:
    tokens = iter(["old", "new"])
    api = FakeApi(script=[_json(401, {"message": "Unauthorized"})])
    seen: list[str] = []

    def transport(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        seen.append(headers["authorization"])
        return api(method, url, headers, body, timeout)

    built = Client("http://fake", token_provider=lambda: next(tokens), transport=transport)
    assert built.chat(CHAT).chat_id == CHAT
    assert seen == ["Bearer old", "Bearer new"]


def test_no_server_is_an_unreachable_error() -> None:
    with pytest.raises(UnreachableError):
        Client("http://127.0.0.1:1", token="t", retry=RetryPolicy(attempts=1)).chats()


def test_retry_after_reads_seconds_and_dates() -> None:
    assert Response(429, {"retry-after": "7"}, b"").retry_after() == 7.0
    assert Response(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"").retry_after() == 0.0
    assert Response(429, {"Retry-After": "soon"}, b"").retry_after() is None


def test_the_default_bounds_are_the_documented_ones() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.max_delay, policy.max_retry_after) == (5, 5.0, 60.0)


def test_a_command_is_accepted_by_command_and_raised_by_send() -> None:
    # Given a server that answers a post with 202: a slash command went to its extension
    accepted = {"command_id": "cmd-1", "command": "poll", "extension_id": "poll", "args": ["Lunch?", "A"]}
    api = FakeApi(script=[_json(202, accepted), _json(202, accepted)])
    sleeps: list[float] = []
    parley = client(api, sleeps)

    # When it is typed with command(), Then the acceptance comes back
    answer = parley.command(CHAT, '/poll "Lunch?" A')
    assert isinstance(answer, AcceptedCommand)
    assert (answer.command_id, answer.args) == ("cmd-1", ("Lunch?", "A"))
    # And send() of one raises, carrying the acceptance: no message was stored
    with pytest.raises(CommandSentError) as caught:
        parley.send(CHAT, '/poll "Lunch?" A')
    assert caught.value.accepted.command_id == "cmd-1"
