"""The analytics extension's identity and per-chat settings, importable without the extension SDK."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EXTENSION_ID = "analytics"
DAY_SECONDS = 86_400
BACKFILL_MAX_EVENTS = 10_000
"""The most past events a backfill hands analytics when it is enabled (its manifest's limit)."""

Status = Literal["enabled", "disabled", "circuit_open", "not_installed"]
"""The analytics extension on a chat; what happens while it is off is not counted."""


class AnalyticsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="A chat's report counts the events of this many days back (older ones no longer count).",
    )
