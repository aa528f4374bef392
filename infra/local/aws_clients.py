"""Per-call work the local stack's AWS clients skip: signing, which only AWS's own endpoints check,
and the loopback HTTP request of a push to the gateway in this same process (``InProcessPushes``).

moto and the gateway's management API (``/@connections``) check no signature: moto reads only the
credential scope of the ``Authorization`` header (the service, to route the request; the region;
the access key, for the account). SigV4 signing (a canonical request, four HMACs, a hash of the
body per call) was about a tenth of the stack process's CPU per post, so the local stack's clients
send that scope with no signature. Only clients created in the local stack's process are touched;
code deployed to AWS signs as always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import botocore.auth
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSResponse

SIGNATURE_VERSION = "parley-local-scope"


class ScopeOnlyAuth(SigV4Auth):  # type: ignore[misc]
    """SigV4's ``Authorization`` header with its credential scope and no signature."""

    def add_auth(self, request: Any) -> None:
        if "Authorization" in request.headers:
            del request.headers["Authorization"]  # a retried request is "signed" again
        access_key = self.credentials.access_key if self.credentials else "local"
        day = time.strftime("%Y%m%d", time.gmtime())
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{day}/{self._region_name}/"
            f"{self._service_name}/aws4_request, SignedHeaders=host, Signature=unsigned"
        )


def _scope_only(**_: Any) -> str:
    return SIGNATURE_VERSION


def skip_signing() -> Callable[[], None]:
    """Every botocore client created from now on (boto3's and PynamoDB's) sends the scope only.

    Returns what undoes it (for tests; the local stack keeps it for its life)."""
    auth_types: Any = botocore.auth.AUTH_TYPE_MAPS
    auth_types[SIGNATURE_VERSION] = ScopeOnlyAuth
    session_class: Any = botocore.session.Session
    original = session_class.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register_first("choose-signer", _scope_only)
        return client

    session_class.create_client = create_client

    def uninstall() -> None:
        session_class.create_client = original
        auth_types.pop(SIGNATURE_VERSION, None)

    return uninstall


CONNECTIONS = "/@connections/"
Push = Callable[[str, bytes], "tuple[int, dict[str, str], bytes] | None"]
"""Hands a PostToConnection's frame to the gateway of this process; its answer (status, headers,
body), or None when it cannot now (the request then goes over HTTP)."""


class RawBody:
    """The ``raw`` of a botocore response built here: a body to stream once."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class InProcessPushes:
    """The HTTP session of a management API client in the stack's process: a PostToConnection goes
    straight to the gateway's socket instead of out through urllib3 and back in through aiohttp (a
    loopback HTTP request per push, both ends in this process: about a tenth of its CPU per post).
    It sits where the HTTP session does, under botocore's hooks and retries: a fault hook's answer
    (``push.error``) still wins, a 410 is still a GoneException. Anything else goes over HTTP."""

    def __init__(self, http: Any, push: Push) -> None:
        self._http = http
        self._push = push

    def send(self, request: Any) -> Any:
        path = urlsplit(request.url).path
        body = request.body
        if request.method == "POST" and path.startswith(CONNECTIONS) and isinstance(body, bytes):
            answer = self._push(unquote(path[len(CONNECTIONS) :]), body)
            if answer is not None:
                status, headers, data = answer
                return AWSResponse(request.url, status, headers, RawBody(data))
        return self._http.send(request)

    def close(self) -> None:
        self._http.close()


def push_in_process(push: Push) -> Callable[[], None]:
    """Every management API client created from now on hands its pushes to ``push``.

    Returns what undoes it (for tests; the local stack keeps it for its life)."""
    session_class: Any = botocore.session.Session
    original = session_class.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        if client.meta.service_model.service_name == "apigatewaymanagementapi":
            endpoint = client._endpoint  # botocore keeps its transport here; no public way in
            endpoint.http_session = InProcessPushes(endpoint.http_session, push)
        return client

    session_class.create_client = create_client

    def uninstall() -> None:
        session_class.create_client = original

    return uninstall
