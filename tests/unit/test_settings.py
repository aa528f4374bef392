"""Settings: parsed from the environment once, typed and bounded, with every bad variable named."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parley.settings import Settings, SettingsError

LAYER_ONLY = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "layers/parley/python")}
"""A child that imports this worktree's layer, whatever the venv's own paths hold."""


def test_an_empty_environment_gives_the_defaults() -> None:
    config = Settings.from_env({})
    assert config.bus_name == "parley"
    assert config.ticket_ttl_seconds == 60
    assert config.webhook_allow_http is False
    assert config.typing_throttle_seconds == 3.0


def test_variables_are_parsed_as_their_settings_type_and_unknown_ones_ignored() -> None:
    config = Settings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "PARLEY_TICKET_TTL_SECONDS": "120",
            "PARLEY_TYPING_THROTTLE_SECONDS": "0.5",
            "PARLEY_WEBHOOK_ALLOW_HTTP": "true",
            "SOMETHING_ELSE": "x",
        }
    )
    assert (config.region, config.ticket_ttl_seconds, config.typing_throttle_seconds) == (
        "eu-west-1",
        120,
        0.5,
    )
    assert config.webhook_allow_http is True
    assert Settings.from_env({"PARLEY_WEBHOOK_ALLOW_HTTP": "0"}).webhook_allow_http is False


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PARLEY_TICKET_TTL_SECONDS", "2", "PARLEY_TICKET_TTL_SECONDS: must be >= 5"),
        ("PARLEY_TICKET_TTL_SECONDS", "601", "PARLEY_TICKET_TTL_SECONDS: must be <= 600"),
        ("PARLEY_AI_TIMEOUT_SECONDS", "0", "PARLEY_AI_TIMEOUT_SECONDS: must be > 0"),
        ("PARLEY_PUSH_CONCURRENCY", "many", "PARLEY_PUSH_CONCURRENCY: not a valid int ('many')"),
        ("PARLEY_WEBHOOK_ALLOW_HTTP", "perhaps", "PARLEY_WEBHOOK_ALLOW_HTTP: not a valid bool"),
    ],
)
def test_a_bad_variable_is_refused_by_name(variable: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match="invalid settings") as raised:
        Settings.from_env({variable: value})
    assert says in str(raised.value)


def test_every_bad_variable_is_named_at_once_and_direct_construction_is_checked_too() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"PARLEY_TICKET_TTL_SECONDS": "1", "PARLEY_HOOK_BUDGET_MS": "1"})
    assert "PARLEY_TICKET_TTL_SECONDS" in str(raised.value)
    assert "PARLEY_HOOK_BUDGET_MS" in str(raised.value)
    with pytest.raises(SettingsError, match="PARLEY_PUSH_CONCURRENCY"):
        Settings(push_concurrency=0)


def test_settings_are_frozen_and_name_their_variables() -> None:
    config = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.bus_name = "other"  # type: ignore[misc]
    assert Settings.env_name("bus_name") == "PARLEY_BUS_NAME"
    assert Settings.default_of("ticket_ttl_seconds") == 60
    assert set(Settings.env_names()) == {f.name for f in dataclasses.fields(Settings)}
    with pytest.raises(KeyError):
        Settings.env_name("nope")


def test_reading_the_settings_imports_no_pydantic() -> None:
    # the WebSocket authorizer's cold start depends on it (bench/coldstart.py measures it)
    code = "import sys, parley.settings; parley.settings.settings(); print('pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=LAYER_ONLY, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
