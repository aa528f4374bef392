"""Shared fixtures. Integration tests run every AWS call against moto, in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from infra.local import moto_fixes, request_state
from infra.local.extensions import loaded
from infra.local.provision import Provisioned, provision
from parley import root
from parley.settings import settings
from tests.support.api import Api, User
from tests.support.bus import Bus
from tests.support.extensions import bind_shipped

# the fixtures an extension's own repository gets from the SDK distribution's pytest11 entry point
pytest_plugins = ("parley_kit.pytest_plugin",)

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "parley-tests",
    "POWERTOOLS_METRICS_NAMESPACE": "ParleyTests",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "PARLEY_OUTBOX_GRACE_SECONDS": "0",
    # extension hooks run in-process, as on the local stack (moto's Lambda would need Docker)
    "PARLEY_HOOK_INVOKER": "inprocess",
}


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach a real AWS account: fake credentials, and no endpoint override."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    root.reset()
    yield
    root.reset()


@pytest.fixture
def aws() -> Iterator[Provisioned]:
    moto_fixes.apply_all()
    bind_shipped()
    with mock_aws(), loaded():  # PARLEY_EXTENSIONS too, as on `make dev`
        yield provision(settings(), sink=True)


@pytest.fixture
def api(aws: Provisioned) -> Api:
    # tests that post from several threads stand for several Lambda containers: Powertools' request
    # state must be per thread, as the local gateway makes it (else a ``KeyError: '_route'`` 500)
    request_state.install()
    return Api()


@pytest.fixture
def bus(aws: Provisioned) -> Bus:
    return Bus(aws)


@pytest.fixture
def alice() -> User:
    return User("user-alice", "Alice")


@pytest.fixture
def bob() -> User:
    return User("user-bob", "Bob")


@pytest.fixture
def carol() -> User:
    return User("user-carol", "Carol")
