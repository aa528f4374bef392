"""One botocore session for every AWS client of the process, PynamoDB's included.

A botocore session parses the SDK's endpoint rules and each service's model when it builds its
first client; PynamoDB built a session per table model and boto3 one more, so a cold start parsed
the same files once per table (most of a first invocation's time, `make bench` measured). botocore
sessions are not thread-safe, so building a client is serialized here; the clients themselves are
thread-safe. Using botocore directly also spares every function boto3's own import.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

import botocore.session
import pynamodb.connection.base
from botocore.config import Config


class SharedSession(botocore.session.Session):  # type: ignore[misc]  # botocore ships no types
    """A session whose client creation takes a lock, so threads can share it."""

    def __init__(self) -> None:
        super().__init__()
        self._creating = threading.RLock()

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        with self._creating:
            return super().create_client(*args, **kwargs)


@cache
def session() -> botocore.session.Session:
    """The process's session: tests register their botocore hooks here, before clients are built."""
    return SharedSession()


def client(
    service: str, *, region: str | None = None, endpoint_url: str | None = None, config: Config | None = None
) -> Any:
    """A botocore client; region and endpoint default as boto3's do (``AWS_DEFAULT_REGION``,
    ``AWS_ENDPOINT_URL``)."""
    return session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)


class PynamoSession:
    """What PynamoDB gets as its session: every table model with the same settings shares one
    DynamoDB client (PynamoDB asks once per model, and each client costs a cold start its build)."""

    def __init__(self, shared: botocore.session.Session) -> None:
        self._shared = shared
        self._clients: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def create_client(
        self,
        service_name: str,
        region_name: str | None = None,
        *,
        config: Config | None = None,
        **kwargs: Any,
    ) -> Any:
        options = sorted((config._user_provided_options if config else {}).items())
        endpoint = str(kwargs.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL", ""))
        key = (service_name, str(region_name), endpoint, repr(options), repr(sorted(kwargs.items())))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._shared.create_client(
                    service_name, region_name=region_name, config=config, **kwargs
                )
            return self._clients[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared, name)


@cache
def pynamodb_session() -> PynamoSession:
    return PynamoSession(session())


def share_with_pynamodb() -> None:
    """PynamoDB connections take their session from here from now on (it asks per connection)."""
    pynamodb.connection.base.get_session = pynamodb_session  # type: ignore[attr-defined]  # its module-level import
