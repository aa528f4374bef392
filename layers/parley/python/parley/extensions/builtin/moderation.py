"""`moderation`: refuses or redacts messages that contain a chat's blocked terms, before anyone
sees them (a moderation hook, within the platform's time budget)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.extensions.hooks import ModerationDecision, ModerationRequest
from parley.extensions.manifest import Hooks, Manifest
from parley.extensions.sdk import Extension

REDACTION = "***"


class ModerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocked_terms: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="Words or phrases, matched case-insensitively as whole words.",
    )
    action: Literal["reject", "redact"] = Field(
        "reject", description="`reject` refuses the message; `redact` replaces each term with ***."
    )


extension: Extension[ModerationConfig] = Extension(
    Manifest(
        id="moderation",
        version="1.0.0",
        name="Moderation",
        description="Rejects or redacts messages containing the chat's blocked terms.",
        capabilities=frozenset({"messages:moderate"}),
        config_model=ModerationConfig,
        hooks=Hooks(moderate=True),
        # its hook is a synchronous invoke on every post of the chats that enable it
        reserved_concurrency=20,
    )
)


def pattern(terms: list[str]) -> re.Pattern[str] | None:
    cleaned = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in cleaned) + r")(?!\w)", re.IGNORECASE)


@extension.moderate
def check(request: ModerationRequest, config: ModerationConfig) -> ModerationDecision:
    compiled = pattern(config.blocked_terms)
    found = sorted({m.group(0).lower() for m in compiled.finditer(request.text)}) if compiled else []
    if not found:
        return ModerationDecision(action="allow")
    listed = ", ".join(f'"{t}"' for t in found)
    if config.action == "reject":
        return ModerationDecision(action="reject", reason=f"the message contains a blocked term: {listed}")
    assert compiled is not None
    return ModerationDecision(
        action="rewrite", reason=f"redacted {listed}", text=compiled.sub(REDACTION, request.text)
    )
