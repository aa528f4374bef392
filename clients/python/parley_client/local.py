"""The local stack's own routes (``make dev``): sign-in without Cognito, and the dead-letter redrive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley_client._http import Request, Session, Transport, urllib_transport


def _local(base_url: str, transport: Transport) -> Session:
    return Session(base_url, lambda _refresh: None, transport=transport)


def sign_in(
    base_url: str,
    user_id: str,
    *,
    name: str | None = None,
    groups: Sequence[str] = (),
    transport: Transport = urllib_transport,
) -> dict[str, Any]:
    """``POST /local/token``: the token, user id, name and expiry the local stack issued."""
    body = {"user_id": user_id, "name": name or user_id, "groups": list(groups)}
    request = Request("POST", "/local/token", body=body, auth=False)
    answer: dict[str, Any] = _local(base_url, transport).call(request).json()
    return answer


def local_token(base_url: str, user_id: str, *, name: str | None = None, groups: Sequence[str] = ()) -> str:
    """A bearer token from the local stack, for examples and tests (a deployed stack uses Cognito)."""
    return str(sign_in(base_url, user_id, name=name, groups=groups)["token"])


def redrive(base_url: str, *, transport: Transport = urllib_transport) -> dict[str, Any]:
    """``POST /local/redrive``: dead-lettered events put back on their queues (`moved`)."""
    counts: dict[str, Any] = (
        _local(base_url, transport).call(Request("POST", "/local/redrive", auth=False)).json()
    )
    return counts
