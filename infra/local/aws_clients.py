"""Per-call work the local stack's AWS clients skip because only AWS's own endpoints need it.

moto and the gateway's management API (``/@connections``) check no signature: moto reads only the
credential scope of the ``Authorization`` header (the service, to route the request; the region;
the access key, for the account). SigV4 signing (a canonical request, four HMACs, a hash of the
body per call) was about a tenth of the stack process's CPU per post, so the local stack's clients
send that scope with no signature. Only clients created in the local stack's process are touched;
code deployed to AWS signs as always.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.auth
import botocore.session
from botocore.auth import SigV4Auth

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
