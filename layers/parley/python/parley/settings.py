"""Settings are a validated model read once at cold start; logic receives values, never os.environ.

Endpoints are not settings: the AWS SDK and PynamoDB honour ``AWS_ENDPOINT_URL``, which is how the
local stack points the very same code at moto. There is no "if local" branch anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    region: str = Field("us-east-1", alias="AWS_REGION")
    bus_name: str = Field("parley", alias="PARLEY_BUS_NAME")
    chats_table: str = Field("parley-chats", alias="PARLEY_CHATS_TABLE")
    memberships_table: str = Field("parley-memberships", alias="PARLEY_MEMBERSHIPS_TABLE")
    messages_table: str = Field("parley-messages", alias="PARLEY_MESSAGES_TABLE")
    events_table: str = Field("parley-events", alias="PARLEY_EVENTS_TABLE")
    idempotency_table: str = Field("parley-idempotency", alias="PARLEY_IDEMPOTENCY_TABLE")
    connections_table: str = Field("parley-connections", alias="PARLEY_CONNECTIONS_TABLE")
    subscriptions_table: str = Field("parley-subscriptions", alias="PARLEY_SUBSCRIPTIONS_TABLE")
    inbox_table: str = Field(
        "parley-inbox", alias="PARLEY_INBOX_TABLE", description="The inbox read model (GET /chats)."
    )
    extensions_table: str = Field(
        "parley-extensions",
        alias="PARLEY_EXTENSIONS_TABLE",
        description="Extension registry, per-extension state and the SDK's delivery records.",
    )
    websocket_url: str = Field(
        "ws://127.0.0.1:8000/ws",
        alias="PARLEY_WEBSOCKET_URL",
        description="Where clients connect, with ?ticket=",
    )
    websocket_management_url: str = Field(
        "http://127.0.0.1:8000",
        alias="PARLEY_WEBSOCKET_MANAGEMENT_URL",
        description="API Gateway management API endpoint: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}",
    )
    ticket_ttl_seconds: int = Field(60, ge=5, le=600, alias="PARLEY_TICKET_TTL_SECONDS")
    typing_throttle_seconds: float = Field(3.0, ge=0, alias="PARLEY_TYPING_THROTTLE_SECONDS")
    push_concurrency: int = Field(16, ge=1, le=256, alias="PARLEY_PUSH_CONCURRENCY")
    publish_max_attempts: int = Field(3, ge=1, le=10, alias="PARLEY_PUBLISH_MAX_ATTEMPTS")
    outbox_grace_seconds: float = Field(
        10.0, ge=0, alias="PARLEY_OUTBOX_GRACE_SECONDS", description="Sweeper leaves younger events alone."
    )
    client_message_ttl_seconds: int = Field(86400, ge=60, alias="PARLEY_CLIENT_MESSAGE_TTL_SECONDS")
    ai_provider: str = Field(
        "",
        alias="PARLEY_AI_PROVIDER",
        description="Force one provider (`local`, `bedrock`) for every AI participant; empty: their own.",
    )
    ai_default_model: str = Field(
        "amazon.nova-micro-v1:0",
        alias="PARLEY_AI_DEFAULT_MODEL",
        description="Bedrock model id when a participant names none.",
    )
    local_ai_chunk_delay_ms: float = Field(
        40.0,
        ge=0,
        le=5000,
        alias="PARLEY_LOCAL_AI_CHUNK_DELAY_MS",
        description="Pace of the local provider's stream.",
    )
    ai_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=800,
        alias="PARLEY_AI_TIMEOUT_SECONDS",
        description="A reply not finished by then fails (timeout).",
    )
    ai_context_token_budget: int = Field(4000, ge=100, alias="PARLEY_AI_CONTEXT_TOKEN_BUDGET")
    ai_max_output_tokens: int = Field(512, ge=16, le=8192, alias="PARLEY_AI_MAX_OUTPUT_TOKENS")
    ai_cancel_check_seconds: float = Field(
        0.5,
        ge=0,
        alias="PARLEY_AI_CANCEL_CHECK_SECONDS",
        description="How often a stream checks the chat is still open.",
    )

    hook_budget_ms: int = Field(
        500,
        ge=10,
        le=10_000,
        alias="PARLEY_HOOK_BUDGET_MS",
        description="Time a moderation or turn hook has to rule on a post before the fallback applies.",
    )
    hook_invoker: str = Field(
        "lambda",
        alias="PARLEY_HOOK_INVOKER",
        description="`lambda` invokes hook functions by name (AWS); `inprocess` calls them directly (local).",
    )
    extension_failure_threshold: int = Field(
        5,
        ge=1,
        le=1000,
        alias="PARLEY_EXTENSION_FAILURE_THRESHOLD",
        description="Consecutive failures of an extension on a chat that open its circuit (off there).",
    )
    extension_handler_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=900,
        alias="PARLEY_EXTENSION_HANDLER_TIMEOUT_SECONDS",
        description="An extension handler still running after this counts as failed (a hang).",
    )
    webhook_allow_http: bool = Field(
        False,
        alias="PARLEY_WEBHOOK_ALLOW_HTTP",
        description="Let the `webhook` extension deliver over plain http:// and to loopback or private "
        "addresses (the local stack); otherwise only https:// to public hosts.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        known = {f.alias for f in cls.model_fields.values() if f.alias}
        return cls.model_validate({k: v for k, v in source.items() if k in known})


@cache
def settings() -> Settings:
    """The process's settings, parsed once; tests call ``settings.cache_clear()`` after changing env."""
    return Settings.from_env()
