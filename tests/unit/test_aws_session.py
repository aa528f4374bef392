"""One botocore session per process, and one DynamoDB client for every table model alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pynamodb.connection.base
import pytest
from botocore.config import Config

from parley.adapters import aws, tables
from parley.settings import Settings


def test_table_models_alike_share_one_client_and_a_different_config_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    session = aws.PynamoSession(aws.session())
    first = session.create_client("dynamodb", "us-east-1", config=Config(read_timeout=5))
    assert session.create_client("dynamodb", "us-east-1", config=Config(read_timeout=5)) is first
    assert session.create_client("dynamodb", "us-east-1", config=Config(read_timeout=6)) is not first
    assert session.create_client("dynamodb", "eu-west-1", config=Config(read_timeout=5)) is not first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert session.create_client("dynamodb", "us-east-1", config=Config(read_timeout=5)) is not first


def test_binding_the_tables_hands_pynamodb_the_shared_session() -> None:
    tables.bind(Settings.from_env({}))
    assert pynamodb.connection.base.get_session() is aws.pynamodb_session()  # type: ignore[attr-defined]
    assert aws.pynamodb_session().get_component("event_emitter") is aws.session().get_component(
        "event_emitter"
    )
    connection = tables.TABLES[0].model._get_connection().connection
    other = tables.TABLES[1].model._get_connection().connection
    assert connection.client is other.client


def test_no_adapter_imports_boto3() -> None:
    # the Lambda functions' AWS clients are botocore's: boto3 (and s3transfer) would be a cold start's
    # extra import for nothing
    layer = str(Path(__file__).resolve().parents[2] / "layers/parley/python")
    adapters = sorted(p.stem for p in (Path(layer) / "parley/adapters").glob("*.py") if p.stem != "__init__")
    code = "; ".join(
        [f"import parley.adapters.{a}" for a in adapters] + ["import sys; print('boto3' in sys.modules)"]
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": layer},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
