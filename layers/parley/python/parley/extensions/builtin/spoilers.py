"""`spoilers`: masks the `||spoiler||` parts of messages for the members who asked not to see them
(a read filter: the text is stored whole, and each viewer reads it as the filter rules for them)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley.domain.model import MAX_PARTICIPANTS
from parley.extensions.hooks import ReadFilterAnswer, ReadFilterRequest, ReadVerdict
from parley.extensions.manifest import Hooks, Manifest
from parley.extensions.sdk import Extension

SPOILER = re.compile(r"\|\|(.+?)\|\|", re.DOTALL)
"""A spoiler is marked like Discord's: `||the butler did it||`."""


class SpoilersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    hide_for: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_PARTICIPANTS,
        description="Participant ids of the members who opted in: they read spoilers masked.",
    )
    mask: str = Field(
        "[spoiler]", min_length=1, max_length=50, description="What each `||spoiler||` reads as for them."
    )
    hide_whole_message: bool = Field(
        False, description="Hide a message with a spoiler from them altogether instead of masking it."
    )


extension: Extension[SpoilersConfig] = Extension(
    Manifest(
        id="spoilers",
        version="1.0.0",
        name="Spoilers",
        description="Masks ||spoilers|| in messages for the members who opted in to hiding them.",
        capabilities=frozenset({"messages:filter"}),
        config_model=SpoilersConfig,
        hooks=Hooks(on_read=True),
        # its hook is a synchronous invoke on the first push or read of each message where it is enabled
        reserved_concurrency=20,
    )
)


@extension.on_read
def mask(request: ReadFilterRequest, config: SpoilersConfig) -> ReadFilterAnswer:
    """Opted-in viewers read each spoiler as the mask (or not at all); its sender reads it whole."""
    opted = [v for v in request.viewers if v in set(config.hide_for)]
    verdicts: list[ReadVerdict] = []
    for message in request.messages if opted else []:
        viewers = [v for v in opted if v != message.sender_id]
        if not viewers or not SPOILER.search(message.text):
            continue
        if config.hide_whole_message:
            verdicts.append(ReadVerdict(message_id=message.message_id, viewers=viewers, action="hide"))
        else:
            masked = SPOILER.sub(lambda _: config.mask, message.text)
            verdicts.append(
                ReadVerdict(message_id=message.message_id, viewers=viewers, action="rewrite", text=masked)
            )
    return ReadFilterAnswer(verdicts=verdicts)
