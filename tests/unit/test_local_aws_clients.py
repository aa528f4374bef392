"""The local stack's AWS clients send SigV4's credential scope (what moto routes by) without signing,
and hand their pushes to the gateway in-process, under botocore's hooks."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from infra.local.aws_clients import RawBody, push_in_process, skip_signing


class _Sent(Exception):
    """Stops a request at the wire, carrying its Authorization header."""

    def __init__(self, header: str) -> None:
        super().__init__(header)
        self.header = header


def _authorization(client: Any) -> str:
    """The Authorization header of the client's next request (stopped before it is sent)."""

    def stop(request: Any, **_: Any) -> None:
        value = request.headers["Authorization"]  # bytes once prepared
        raise _Sent(value.decode() if isinstance(value, bytes) else str(value))

    client.meta.events.register_first("before-send.sqs.ListQueues", stop)
    with pytest.raises(_Sent) as sent:
        client.list_queues()
    return sent.value.header


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")


def test_a_client_created_after_it_sends_the_scope_and_no_signature(credentials: None) -> None:
    uninstall = skip_signing()
    try:
        header = _authorization(boto3.session.Session().client("sqs", region_name="eu-west-1"))
    finally:
        uninstall()
    assert header.startswith("AWS4-HMAC-SHA256 Credential=local-key/")
    assert "/eu-west-1/sqs/aws4_request" in header
    assert header.endswith("Signature=unsigned")


def test_once_undone_new_clients_sign_again(credentials: None) -> None:
    skip_signing()()
    header = _authorization(boto3.session.Session().client("sqs", region_name="eu-west-1"))
    assert "/eu-west-1/sqs/aws4_request" in header
    assert "Signature=unsigned" not in header
    assert len(header.rsplit("Signature=", 1)[1]) == 64  # a real HMAC-SHA256, hex


PUSHED = "http://127.0.0.1:9/@connections/"
"""A management API endpoint nothing listens on: a request that goes over HTTP fails to connect."""


def _pusher(answer: tuple[int, dict[str, str], bytes] | None, pushed: list[tuple[str, bytes]]) -> Any:
    def push(connection_id: str, data: bytes) -> tuple[int, dict[str, str], bytes] | None:
        pushed.append((connection_id, data))
        return answer

    uninstall = push_in_process(push)
    try:
        return boto3.session.Session().client(
            "apigatewaymanagementapi",
            region_name="us-east-1",
            endpoint_url=PUSHED.removesuffix("/@connections/"),
            config=Config(retries={"total_max_attempts": 1}),
        )
    finally:
        uninstall()


def test_a_push_is_handed_to_the_gateway_in_process_and_its_answer_read(credentials: None) -> None:
    pushed: list[tuple[str, bytes]] = []
    client = _pusher((200, {}, b""), pushed)

    client.post_to_connection(ConnectionId="abc=", Data=b'{"type":"x"}')

    assert pushed == [("abc=", b'{"type":"x"}')]


def test_a_410_in_process_is_still_a_gone_exception(credentials: None) -> None:
    gone = (410, {"x-amzn-ErrorType": "GoneException"}, b'{"message": "connection abc is gone"}')
    client = _pusher(gone, [])

    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="abc", Data=b"{}")


def test_a_push_the_gateway_cannot_take_now_goes_over_http(credentials: None) -> None:
    pushed: list[tuple[str, bytes]] = []
    client = _pusher(None, pushed)

    with pytest.raises(EndpointConnectionError):
        client.post_to_connection(ConnectionId="abc", Data=b"{}")
    assert pushed == [("abc", b"{}")]


def test_a_fault_hooks_answer_wins_and_nothing_is_pushed(credentials: None) -> None:
    # Given a before-send hook answering 500, as the push.error fault point does
    pushed: list[tuple[str, bytes]] = []
    client = _pusher((200, {}, b""), pushed)
    client.meta.events.register_first(
        "before-send.apigatewaymanagementapi.PostToConnection",
        lambda request, **_: AWSResponse(request.url, 500, {}, RawBody(b"{}")),
    )

    # When a push is made; Then the client sees the 500 and the socket never got the frame
    with pytest.raises(ClientError) as failed:
        client.post_to_connection(ConnectionId="abc", Data=b"{}")
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert pushed == []
