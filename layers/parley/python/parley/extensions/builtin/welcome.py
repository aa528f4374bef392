"""`welcome`: greets each person who joins a chat (the SDK's smallest real example); with
`private: true`, the joiner alone sees the greeting (an ephemeral message)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from parley.catalog import Envelope, UserJoined
from parley.extensions.manifest import Manifest
from parley.extensions.sdk import Context, Extension


class WelcomeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    template: str = Field(
        "Welcome {name}!", min_length=1, max_length=500, description="`{name}` becomes the joiner's name."
    )
    private: bool = Field(
        False,
        description="Greet the joiner alone, as an ephemeral message only they see (never stored, "
        "dropped if they have no socket on the chat within 2 s); otherwise a message everyone sees.",
    )


extension: Extension[WelcomeConfig] = Extension(
    Manifest(
        id="welcome",
        version="1.0.0",
        name="Welcome bot",
        description="Posts a greeting when a person joins the chat.",
        events=("UserJoined",),
        capabilities=frozenset({"messages:write", "messages:ephemeral"}),
        config_model=WelcomeConfig,
    )
)


def render(template: str, name: str) -> str:
    """Only `{name}` is replaced: str.format on a moderator's template could reach attributes."""
    return template.replace("{name}", name)


@extension.on("UserJoined")
def greet(event: Envelope[Any], ctx: Context[WelcomeConfig]) -> None:
    joined: UserJoined = event.data
    if joined.participant.kind != "human":
        return
    text = render(ctx.config.template, joined.participant.name)
    if ctx.config.private:
        ctx.send_ephemeral(joined.participant.id, text)
    else:
        ctx.post_message(text)
