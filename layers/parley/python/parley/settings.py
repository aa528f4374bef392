"""Settings are a validated model read once at cold start; logic receives values, never os.environ.

A frozen dataclass over the environment, not a pydantic model: every Lambda reads its settings at
cold start, and pydantic's import alone costs about half a bare ``import boto3``, which the
functions that need no other model (the WebSocket authorizer) should not pay. The validation is
the same: types, bounds, every bad variable named in one ``SettingsError``.

Endpoints are not settings: the AWS SDK and PynamoDB honour ``AWS_ENDPOINT_URL``, which is how the
local stack points the very same code at moto. There is no "if local" branch anywhere.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class SettingsError(ValueError):
    """The environment holds a setting of the wrong type or out of its bounds (one line per variable)."""


def option(
    default: Any,
    *,
    alias: str,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    description: str = "",
) -> Any:
    """A setting: its default, environment variable, bounds and meaning."""
    bounds = {"ge": ge, "gt": gt, "le": le, "alias": alias, "description": description}
    return dataclasses.field(default=default, metadata=bounds)


@dataclass(frozen=True)
class Settings:
    region: str = option("us-east-1", alias="AWS_REGION")
    bus_name: str = option("parley", alias="PARLEY_BUS_NAME")
    chats_table: str = option("parley-chats", alias="PARLEY_CHATS_TABLE")
    memberships_table: str = option("parley-memberships", alias="PARLEY_MEMBERSHIPS_TABLE")
    messages_table: str = option("parley-messages", alias="PARLEY_MESSAGES_TABLE")
    events_table: str = option("parley-events", alias="PARLEY_EVENTS_TABLE")
    idempotency_table: str = option("parley-idempotency", alias="PARLEY_IDEMPOTENCY_TABLE")
    connections_table: str = option("parley-connections", alias="PARLEY_CONNECTIONS_TABLE")
    subscriptions_table: str = option("parley-subscriptions", alias="PARLEY_SUBSCRIPTIONS_TABLE")
    inbox_table: str = option(
        "parley-inbox", alias="PARLEY_INBOX_TABLE", description="The inbox read model (GET /chats)."
    )
    extensions_table: str = option(
        "parley-extensions",
        alias="PARLEY_EXTENSIONS_TABLE",
        description="Extension registry, per-extension state and the SDK's delivery records.",
    )
    websocket_url: str = option(
        "ws://127.0.0.1:8000/ws",
        alias="PARLEY_WEBSOCKET_URL",
        description="Where clients connect, with ?ticket=",
    )
    websocket_management_url: str = option(
        "http://127.0.0.1:8000",
        alias="PARLEY_WEBSOCKET_MANAGEMENT_URL",
        description="API Gateway management API endpoint: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}",
    )
    ticket_ttl_seconds: int = option(60, ge=5, le=600, alias="PARLEY_TICKET_TTL_SECONDS")
    typing_throttle_seconds: float = option(3.0, ge=0, alias="PARLEY_TYPING_THROTTLE_SECONDS")
    push_concurrency: int = option(16, ge=1, le=256, alias="PARLEY_PUSH_CONCURRENCY")
    publish_max_attempts: int = option(3, ge=1, le=10, alias="PARLEY_PUBLISH_MAX_ATTEMPTS")
    outbox_grace_seconds: float = option(
        10.0, ge=0, alias="PARLEY_OUTBOX_GRACE_SECONDS", description="Sweeper leaves younger events alone."
    )
    client_message_ttl_seconds: int = option(86400, ge=60, alias="PARLEY_CLIENT_MESSAGE_TTL_SECONDS")
    ai_provider: str = option(
        "",
        alias="PARLEY_AI_PROVIDER",
        description="Force one provider (`local`, `bedrock`) for every AI participant; empty: their own.",
    )
    ai_default_model: str = option(
        "amazon.nova-micro-v1:0",
        alias="PARLEY_AI_DEFAULT_MODEL",
        description="Bedrock model id when a participant names none.",
    )
    local_ai_chunk_delay_ms: float = option(
        40.0,
        ge=0,
        le=5000,
        alias="PARLEY_LOCAL_AI_CHUNK_DELAY_MS",
        description="Pace of the local provider's stream.",
    )
    ai_timeout_seconds: float = option(
        60.0,
        gt=0,
        le=800,
        alias="PARLEY_AI_TIMEOUT_SECONDS",
        description="A reply not finished by then fails (timeout).",
    )
    ai_context_token_budget: int = option(4000, ge=100, alias="PARLEY_AI_CONTEXT_TOKEN_BUDGET")
    ai_max_output_tokens: int = option(512, ge=16, le=8192, alias="PARLEY_AI_MAX_OUTPUT_TOKENS")
    ai_cancel_check_seconds: float = option(
        0.5,
        ge=0,
        alias="PARLEY_AI_CANCEL_CHECK_SECONDS",
        description="How often a stream checks the chat is still open.",
    )

    hook_budget_ms: int = option(
        500,
        ge=10,
        le=10_000,
        alias="PARLEY_HOOK_BUDGET_MS",
        description="Time a moderation or turn hook has to rule on a post before the fallback applies.",
    )
    hook_invoker: str = option(
        "lambda",
        alias="PARLEY_HOOK_INVOKER",
        description="`lambda` invokes hook functions by name (AWS); `inprocess` calls them directly (local).",
    )
    extension_failure_threshold: int = option(
        5,
        ge=1,
        le=1000,
        alias="PARLEY_EXTENSION_FAILURE_THRESHOLD",
        description="Consecutive failures of an extension on a chat that open its circuit (off there).",
    )
    extension_handler_timeout_seconds: float = option(
        10.0,
        gt=0,
        le=900,
        alias="PARLEY_EXTENSION_HANDLER_TIMEOUT_SECONDS",
        description="An extension handler still running after this counts as failed (a hang).",
    )
    xray_sdk: bool = option(
        False,
        alias="PARLEY_XRAY_SDK",
        description="Let the X-Ray SDK record a subsegment per AWS call. Off: Lambda's Active tracing "
        "still records each invocation, and cold starts skip the SDK's import and botocore patch.",
    )
    webhook_allow_http: bool = option(
        False,
        alias="PARLEY_WEBHOOK_ALLOW_HTTP",
        description="Let the `webhook` extension deliver over plain http:// and to loopback or private "
        "addresses (the local stack); otherwise only https:// to public hosts.",
    )

    def __post_init__(self) -> None:
        problems = [p for f in dataclasses.fields(self) if (p := _out_of_bounds(f, getattr(self, f.name)))]
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            raw = source.get(f.metadata["alias"])
            if raw is None:
                continue
            try:
                values[f.name] = _parse(f.default, raw)
            except ValueError:
                problems.append(f"{f.metadata['alias']}: not a valid {type(f.default).__name__} ({raw!r})")
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return cls(**values)

    @classmethod
    def env_name(cls, setting: str) -> str:
        """The environment variable a setting is read from (CDK writes it)."""
        return str(_field(setting).metadata["alias"])

    @classmethod
    def env_names(cls) -> dict[str, str]:
        return {f.name: f.metadata["alias"] for f in dataclasses.fields(cls)}

    @classmethod
    def default_of(cls, setting: str) -> Any:
        return _field(setting).default


def _field(setting: str) -> dataclasses.Field[Any]:
    for f in dataclasses.fields(Settings):
        if f.name == setting:
            return f
    raise KeyError(f"no setting named {setting!r}")


def _parse(default: Any, raw: str) -> Any:
    """The variable's text as the setting's type (the type of its default), as pydantic parsed it."""
    if isinstance(default, bool):
        text = raw.strip().lower()
        if text not in TRUE | FALSE:
            raise ValueError(raw)
        return text in TRUE
    if isinstance(default, int):
        return int(raw.strip())
    if isinstance(default, float):
        return float(raw.strip())
    return raw


def _out_of_bounds(f: dataclasses.Field[Any], value: Any) -> str | None:
    name, meta = f.metadata["alias"], f.metadata
    if meta["ge"] is not None and value < meta["ge"]:
        return f"{name}: must be >= {meta['ge']} (got {value!r})"
    if meta["gt"] is not None and value <= meta["gt"]:
        return f"{name}: must be > {meta['gt']} (got {value!r})"
    if meta["le"] is not None and value > meta["le"]:
        return f"{name}: must be <= {meta['le']} (got {value!r})"
    return None


@cache
def settings() -> Settings:
    """The process's settings, parsed once; tests call ``settings.cache_clear()`` after changing env."""
    return Settings.from_env()
