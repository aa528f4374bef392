"""One botocore session for every AWS client of the process, PynamoDB's included.

A botocore session parses the SDK's endpoint rules and each service's model when it builds its
first client; PynamoDB built a session per table model and boto3 one more, so a cold start parsed
the same files once per table (most of a first invocation's time, `make bench` measured). botocore
sessions are not thread-safe, so building a client is serialized here; the clients themselves are
thread-safe. Using botocore directly also spares every function boto3's own import.
"""

from __future__ import annotations

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


def share_with_pynamodb() -> None:
    """PynamoDB connections take their session from here from now on (it asks per connection)."""
    pynamodb.connection.base.get_session = session  # type: ignore[attr-defined]  # its module-level import
