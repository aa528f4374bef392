"""The analytics extension's identity and per-chat settings, importable without the extension SDK."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EXTENSION_ID = "analytics"
DAY_SECONDS = 86_400

Status = Literal["enabled", "disabled", "circuit_open", "not_installed"]
"""The analytics extension on a chat; while it is off, nothing new is counted."""


class AnalyticsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="The chat's analytics expire this many days after their last update (DynamoDB TTL).",
    )
