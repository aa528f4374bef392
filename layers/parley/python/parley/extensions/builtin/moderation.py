"""`moderation`: refuses or redacts messages that contain a chat's blocked terms, before anyone
sees them (a moderation hook, within the platform's time budget)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley.extensions.hooks import ModerationDecision, ModerationRequest
from parley.extensions.manifest import Hooks, Manifest
from parley.extensions.sdk import Extension

REDACTION = "***"
MAX_TERMS = 200
MAX_TERM_LENGTH = 50
"""200 terms of 50 characters: a config stays under 64 KB even fully escaped, so its event always
fits on the bus (and in the chat's item)."""


class ModerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    blocked_terms: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TERM_LENGTH)]] = Field(
        default_factory=list,
        max_length=MAX_TERMS,
        description=f"Up to {MAX_TERMS} words or phrases of at most {MAX_TERM_LENGTH} characters, "
        "matched case-insensitively as whole words.",
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
