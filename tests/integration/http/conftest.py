"""HTTP API suites share one moto account per module: each test makes its own chats.

Per test, the root conftest's reset makes pynamodb build a fresh botocore client per table and
provisioning a fresh account takes about a second; these modules have hundreds of small cases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from infra.local import moto_fixes
from infra.local.provision import Provisioned, provision
from parley import root
from parley.settings import settings
from tests.conftest import AWS_ENV


@pytest.fixture(scope="module", autouse=True)
def _aws_env() -> Iterator[None]:
    """The root conftest's guard (fake credentials, no endpoint override), held for the module."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        for key, value in AWS_ENV.items():
            env.setenv(key, value)
        root.reset()
        yield
        root.reset()


@pytest.fixture(scope="module")
def aws(_aws_env: None) -> Iterator[Provisioned]:
    moto_fixes.apply_all()
    with mock_aws():
        yield provision(settings(), sink=True)
