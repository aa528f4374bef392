"""The local stack's AWS clients send SigV4's credential scope (what moto routes by) without signing."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from infra.local.aws_clients import skip_signing


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
