"""Context settings: CLI strings and cdk.json values both work; a bad one fails synth naming the setting."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from infra.config import ConfigError, StackConfig


def _config(**context: object) -> StackConfig:
    return StackConfig.from_context(cdk.App(context=dict(context)).node)


def test_defaults_keep_data_and_logs_for_30_days() -> None:
    config = _config()
    assert config.deletion_protection is True
    assert config.removal == RemovalPolicy.RETAIN
    assert config.retention == logs.RetentionDays.ONE_MONTH


def test_command_line_strings_are_parsed() -> None:
    # Given `cdk deploy -c deletion_protection=false -c removal_policy=destroy -c log_retention_days=7`
    config = _config(deletion_protection="false", removal_policy="destroy", log_retention_days="7")
    assert config.deletion_protection is False
    assert config.removal == RemovalPolicy.DESTROY
    assert config.retention == logs.RetentionDays.ONE_WEEK


@pytest.mark.parametrize(
    "context",
    [
        {"removal_policy": "snapshot"},
        {"log_retention_days": "10"},
        {"user_pool_id": "us-east-1_abc"},
        {"api_throttle_rate": "0"},
    ],
)
def test_a_bad_setting_fails_with_its_name(context: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(context))):
        _config(**context)


def test_an_existing_pool_needs_its_client() -> None:
    config = _config(user_pool_id="us-east-1_abc", user_pool_client_id="client123")
    assert (config.user_pool_id, config.user_pool_client_id) == ("us-east-1_abc", "client123")
