"""What an extension declares about itself: the manifest, its capabilities and its config schema.

The manifest is the contract between an extension and the platform. The core reads it (from the
registry) to validate per-chat configs and to check every event an extension sends; CDK reads it to
build the extension's rule, queue and IAM policy. A capability not declared here is never granted.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from parley.catalog import CATALOG, EXTENSION_SOURCE_PREFIX

Capability = Literal[
    "messages:write",
    "messages:moderate",
    "messages:filter",
    "turns:control",
    "analytics:read",
    "events:emit",
    "ai:context",
    "messages:ephemeral",
    "messages:read_private",
    "messages:interactive",
    "workflows:run",
    "turns:give",
    "settings:write",
]
CAPABILITIES: tuple[str, ...] = Capability.__args__  # type: ignore[attr-defined]

LIFECYCLE_EVENTS: tuple[str, ...] = (
    "ExtensionInstalled",
    "ExtensionActivated",
    "ExtensionConfigChanged",
    "ExtensionDeactivated",
    "ExtensionUninstalled",
    "ExtensionDisabled",
)
"""Every extension receives its own life-cycle events (the SDK runs its hooks), enabled or not."""

SENT_BY_EXTENSIONS: dict[str, Capability | None] = {
    "ExtensionMessageRequested": "messages:write",
    "ExtensionEvent": "events:emit",
    "AIContextContributed": "ai:context",
    "ExtensionEphemeralRequested": "messages:ephemeral",
    "ExtensionMessageUpdateRequested": "messages:interactive",
    "ExtensionFailed": None,
    "ExtensionRecovered": None,
    "WorkflowRunReported": "workflows:run",
    "ExtensionFloorRequested": "turns:give",
    "ExtensionSettingsRequested": "settings:write",
}
"""The only detail-types an extension may put on the bus, with the capability each needs (IAM allows
an extension exactly the ones its capabilities cover; the core checks them again). A message with
``blocks`` needs ``INTERACTIVE`` besides (the core checks it: IAM sees only the detail-type)."""

INTERACTIVE: Capability = "messages:interactive"
"""Post messages with blocks, update one's own messages, and receive the actions people take on them."""

FOR_THE_GATEWAY_ONLY = frozenset(
    {
        "ExtensionEphemeralRequested",
        "ExtensionMessageUpdateRequested",
        "WorkflowRunReported",
        "ExtensionFloorRequested",
        "ExtensionSettingsRequested",
    }
)
"""Sent by extensions and received by the core's gateway alone: a message for one member, an
extension's request to change its own message (others see the result, MessageUpdated), or a workflow
run before the core recorded it for moderators (WorkflowRun), a floor or settings it asks for (others
see TurnChanged, ChatSettingsChanged) is no other extension's business, so no extension's rule ever
matches them (``subscribed`` leaves them out)."""

DEFAULT_BACKFILL_EVENTS = 1000
MAX_BACKFILL_EVENTS = 10_000
"""A backfill reads at most this many log entries: a bound on its cost, whatever the chat's age."""

ID_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*$")


def subscribed(events: tuple[str, ...], extension_events: tuple[str, ...]) -> tuple[str, ...]:
    """Every detail-type an extension's rule matches: its events, ExtensionEvent if it listens to
    other extensions, and its life-cycle events."""
    types = [t for t in events if t not in FOR_THE_GATEWAY_ONLY]
    if extension_events and "ExtensionEvent" not in types:
        types.append("ExtensionEvent")
    types += [t for t in LIFECYCLE_EVENTS if t not in types]
    return tuple(types)


class EmptyConfig(BaseModel):
    """The config of an extension that takes none."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Hooks(BaseModel):
    """Synchronous hooks: the core calls them before a message is stored (or, `on_read`, before a viewer
    sees it), within a time budget."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    moderate: bool = Field(False, description="Rules on each post (needs `messages:moderate`).")
    validate_turn: bool = Field(False, description="Rules whether a post is in turn (needs `turns:control`).")
    on_read: bool = Field(
        False,
        description="Keeps, hides or rewrites stored messages per viewer (needs `messages:filter`); "
        "asked once per message, its verdicts are cached (parley.services.read_filters).",
    )
    budget_ms: int | None = Field(
        None, ge=10, le=10_000, description="Its own budget; by default the platform's (500 ms)."
    )

    @property
    def any(self) -> bool:
        """It has a hook, so the core invokes its function synchronously (a Lambda with code)."""
        return self.moderate or self.validate_turn or self.on_read


class SlashCommand(BaseModel):
    """A command members type in the composer (``/poll "Lunch?" Pizza Sushi``): the post becomes a
    SlashCommandInvoked for the declaring extension instead of a message (see ``parley.domain.slash``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="Typed after the slash: `poll` is `/poll`."
    )
    description: str = Field(min_length=1, max_length=200, description="One line for the composer's list.")
    usage: str = Field(
        "", max_length=200, description='Its arguments, e.g. `"Question?" "Option" "Option" [--closes 10m]`.'
    )


class Manifest(BaseModel):
    """An extension's declaration. ``config_model`` is a pydantic model; its JSON Schema is published."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    id: str = Field(pattern=ID_PATTERN, description="Stable id; the bus source is `parley.ext.<id>`.")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    name: str = Field(min_length=1, max_length=64, description="Display name of its bot's messages.")
    description: str = Field(min_length=1, max_length=500)
    events: tuple[str, ...] = Field(default=(), description="Catalog event types it subscribes to.")
    extension_events: tuple[str, ...] = Field(
        default=(), description="Names of other extensions' ExtensionEvents it subscribes to."
    )
    emits: tuple[str, ...] = Field(default=(), description="Names of the ExtensionEvents it emits.")
    capabilities: frozenset[Capability] = frozenset()
    config_model: type[BaseModel] = Field(default=EmptyConfig, exclude=True)
    hooks: Hooks = Hooks()
    commands: tuple[SlashCommand, ...] = Field(
        default=(),
        max_length=20,
        description="Slash commands it answers (its events must include `SlashCommandInvoked`).",
    )
    default_install: bool = Field(False, description="Installed and enabled on every new chat.")
    idempotent: bool = Field(
        False,
        description="Every handler is safe to run again on the same event (blind writes keyed by the "
        "event's identity, no outputs that depend on being first), so the SDK keeps no delivery claim: "
        "a duplicate runs the handler again and changes nothing, and each event saves the claim's and "
        "the completion's writes.",
    )
    reserved_concurrency: int = Field(
        2,
        ge=2,
        le=100,
        description="Its Lambda's reserved concurrency (at least 2: SQS's event source needs 2 to poll).",
    )
    backfill: bool = Field(
        False,
        description="When a moderator enables it on a chat, it first receives that chat's past events it "
        "subscribes to (those every member may read), once, in order, marked `replayed`, before live ones.",
    )
    backfill_max_events: int = Field(
        DEFAULT_BACKFILL_EVENTS,
        ge=1,
        le=MAX_BACKFILL_EVENTS,
        description="The bound of a backfill: the chat's last this many log entries before it was enabled.",
    )
    tick: bool = Field(
        False,
        description="Its function is invoked once a minute (EventBridge Scheduler; the local stack's timer) "
        "to run what is due on its chats (``Extension.on_tick``).",
    )

    SDK_VERSION: ClassVar[int] = 1

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in events if e not in CATALOG]
        if unknown:
            raise ValueError(f"not in the event catalog: {unknown}")
        private = [e for e in events if e in FOR_THE_GATEWAY_ONLY]
        if private:
            raise ValueError(f"only the core receives {private}: messages for one member stay private")
        return events

    @field_validator("extension_events", "emits")
    @classmethod
    def _event_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in names if not EVENT_NAME.match(n)]
        if bad:
            raise ValueError(f"extension event names look like `sentiment.scored`: {bad}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.hooks.moderate and "messages:moderate" not in self.capabilities:
            raise ValueError("a moderation hook needs the `messages:moderate` capability")
        if self.hooks.validate_turn and "turns:control" not in self.capabilities:
            raise ValueError("a turn hook needs the `turns:control` capability")
        if self.hooks.on_read and "messages:filter" not in self.capabilities:
            raise ValueError("a read filter (`on_read`) needs the `messages:filter` capability")
        if self.emits and "events:emit" not in self.capabilities:
            raise ValueError("emitting events needs the `events:emit` capability")
        own = [n for n in self.emits if not n.startswith(f"{self.id}.")]
        if own:
            raise ValueError(f"an extension's event names start with its id (`{self.id}.`): {own}")
        names = [c.name for c in self.commands]
        if len(set(names)) != len(names):
            raise ValueError(f"a command is declared twice: {names}")
        if self.commands and "SlashCommandInvoked" not in self.events:
            raise ValueError("an extension with commands subscribes to `SlashCommandInvoked`")
        return self

    @property
    def source(self) -> str:
        return f"{EXTENSION_SOURCE_PREFIX}{self.id}"

    @property
    def subscribed(self) -> tuple[str, ...]:
        return subscribed(self.events, self.extension_events)

    @property
    def may_send(self) -> tuple[str, ...]:
        """The detail-types its IAM role may put on the bus (with its own source only)."""
        return tuple(
            t for t, needs in SENT_BY_EXTENSIONS.items() if needs is None or needs in self.capabilities
        )

    def config_schema(self) -> dict[str, Any]:
        return self.config_model.model_json_schema()

    def document(self, *, target: Target | None = None) -> ExtensionDocument:
        """The registry entry: the manifest as data, with its config schema and where it runs."""
        return ExtensionDocument(
            id=self.id,
            version=self.version,
            name=self.name,
            description=self.description,
            events=self.events,
            extension_events=self.extension_events,
            emits=self.emits,
            capabilities=tuple(sorted(self.capabilities)),
            config_schema=self.config_schema(),
            hooks=self.hooks,
            commands=self.commands,
            default_install=self.default_install,
            backfill=self.backfill,
            backfill_max_events=self.backfill_max_events,
            target=target or Target(kind="lambda", function=f"ext_{self.id}"),
        )


class Target(BaseModel):
    """Where the extension runs: a Lambda (by function name, which hooks are invoked by), a queue, or
    an HTTPS endpoint reached through an EventBridge API destination."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: Literal["lambda", "queue", "https"] = "lambda"
    function: str | None = Field(None, description="Function name (local: folder under functions/).")
    url: str | None = None


class ExtensionDocument(BaseModel):
    """A registered extension as the API lists it and the core checks it: plain data, no code."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str
    version: str
    name: str
    description: str
    events: tuple[str, ...] = ()
    extension_events: tuple[str, ...] = ()
    emits: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    config_schema: dict[str, Any] = Field(default_factory=dict)
    hooks: Hooks = Hooks()
    commands: tuple[SlashCommand, ...] = ()
    default_install: bool = False
    backfill: bool = False
    backfill_max_events: int = Field(DEFAULT_BACKFILL_EVENTS, ge=1, le=MAX_BACKFILL_EVENTS)
    target: Target = Target()

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def subscribed(self) -> tuple[str, ...]:
        return subscribed(self.events, self.extension_events)

    @property
    def source(self) -> str:
        return f"{EXTENSION_SOURCE_PREFIX}{self.id}"
