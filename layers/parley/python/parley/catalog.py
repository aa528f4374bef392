"""The event catalog: every domain event Parley emits, as frozen pydantic models.

Only this module knows every event type. Each event's detail-type and schema version are explicit
class attributes, never derived from the class name, so renaming a class can never change a contract.
The same models produce the JSON Schemas in docs/events/ and the EventBridge schema registry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)
from pydantic.json_schema import SkipJsonSchema

from parley.blocks import BLOCKS_VERSION, Block, Values

CORE_SOURCE = "parley.core"
EXTENSION_SOURCE_PREFIX = "parley.ext."

ActorKind = Literal["user", "ai", "system", "extension"]


class CatalogError(Exception):
    """The catalog was asked for an event type or version it does not define."""


class EventParseError(CatalogError):
    """An EventBridge detail did not match the envelope or its event's data model."""


class _Frozen(BaseModel):
    # inf and NaN are not JSON: an event that validates must always serialize to strict JSON
    model_config = ConfigDict(frozen=True, allow_inf_nan=False, defer_build=True)


class Actor(_Frozen):
    """Who caused the event; ``system`` for handlers acting on their own (timeouts, turn moves)."""

    id: str
    kind: ActorKind
    name: str | None = None


SYSTEM = Actor(id="parley", kind="system", name="Parley")


MAX_WHISPER_RECIPIENTS = 5
"""A whisper names at most this many addressees (the sender is implied)."""

AudienceScope = Literal["everyone", "moderators"]
Audience = AudienceScope | tuple[str, ...]
"""Who may see a stored event: every member, the owner and moderators, or the listed participant ids."""

MAX_ROUTED_EXTENSIONS = 64
"""Bound of ``Metadata.extensions``: a chat may install at most this many extensions."""


class Metadata(_Frozen):
    event_id: str = Field(description="Business identity of the event; consumers deduplicate on it.")
    event_type: str = Field(description="Equals the EventBridge detail-type.")
    version: int = Field(ge=1, description="Schema version of `data` for this event type.")
    chat_id: str
    sequence: int | None = Field(
        default=None,
        ge=1,
        description="Position in the chat's event log; null for ephemeral events that are never stored.",
    )
    correlation_id: str = Field(description="Shared by every event of one user-visible flow.")
    causation_id: str | None = Field(default=None, description="event_id of the event that caused this one.")
    actor: Actor
    occurred_at: datetime
    roster_version: int | None = Field(
        default=None,
        ge=1,
        description="The chat's membership version when the event was stored (null on events never "
        "stored): members and roles are the same for every event of one version, so a consumer may "
        "cache them per version.",
    )
    extensions: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_ROUTED_EXTENSIONS,
        description="Ids of the extensions this event is for: those enabled on the chat when it was "
        "built, plus the subject of an extension's own life-cycle event. Each extension's rule matches "
        "only events listing its id, so a chat that did not enable it never costs it an invocation.",
    )
    replayed: SkipJsonSchema[bool] = Field(
        default=False,
        exclude=True,
        description="Set by the extension SDK on a past event delivered by a backfill (never sent or "
        "stored: a backfill's request says it once for all its events).",
    )
    audience: Audience | None = Field(
        default=None,
        description="Who may see this event: `everyone`, `moderators` (the owner and moderators), or the "
        "participant ids it is for (a whisper: its sender and addressees). Null means the event type's "
        "default. Everyone else reads a `Withheld` marker at its sequence instead.",
    )


class EventData(_Frozen):
    """Base of every event's ``data``. Subclasses set the class attributes below and call ``@event``."""

    event_type: ClassVar[str]
    version: ClassVar[int]
    description: ClassVar[str]
    producers: ClassVar[tuple[str, ...]]
    ephemeral: ClassVar[bool] = False
    on_bus: ClassVar[bool] = True
    audience: ClassVar[Literal["members", "moderators"]] = "members"
    """Whose sockets get a client-visible event: every member, or only the owner and moderators."""


D = TypeVar("D", bound=EventData)
E = TypeVar("E", bound=type[EventData])


class Envelope(_Frozen, Generic[D]):
    """What EventBridge carries in ``detail``: ``{"metadata": {...}, "data": {...}}``."""

    metadata: Metadata
    data: SerializeAsAny[D]

    @property
    def event_type(self) -> str:
        return self.metadata.event_type

    @property
    def source(self) -> str:
        """EventBridge ``source``: core events come from ``parley.core``, extensions from their own."""
        actor = self.metadata.actor
        return f"{EXTENSION_SOURCE_PREFIX}{actor.id}" if actor.kind == "extension" else CORE_SOURCE

    def with_sequence(
        self,
        sequence: int,
        *,
        roster_version: int | None = None,
        extensions: Sequence[str] | None = None,
        audience: Audience | None = None,
    ) -> Envelope[D]:
        update: dict[str, Any] = {"sequence": sequence}
        if roster_version is not None:
            update["roster_version"] = roster_version
        if extensions is not None:
            update["extensions"] = tuple(extensions)
        if audience is not None:
            update["audience"] = audience
        return self.model_copy(update={"metadata": self.metadata.model_copy(update=update)})

    def to_detail(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """The detail as sent and stored: compact UTF-8 (not ASCII escapes), strict JSON."""
        return json.dumps(self.to_detail(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


CATALOG: dict[str, type[EventData]] = {}


def event(cls: E) -> E:
    """Register an event data model in the catalog; fails at import on a duplicate or a missing field."""
    for attr in ("event_type", "version", "description", "producers"):
        if attr not in cls.__dict__:
            raise CatalogError(f"{cls.__name__} must define {attr}")
    if cls.event_type in CATALOG:
        raise CatalogError(f"duplicate event type {cls.event_type}")
    CATALOG[cls.event_type] = cls
    return cls


def new_event(
    data: D,
    *,
    chat_id: str,
    actor: Actor,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    extensions: Sequence[str] = (),
) -> Envelope[D]:
    """Start a new flow (or continue one whose correlation id came from a request)."""
    event_id = str(uuid.uuid4())
    metadata = Metadata(
        event_id=event_id,
        event_type=data.event_type,
        version=data.version,
        chat_id=chat_id,
        correlation_id=correlation_id or event_id,
        causation_id=causation_id,
        actor=actor,
        occurred_at=occurred_at or datetime.now(UTC),
        extensions=tuple(extensions),
    )
    return Envelope(metadata=metadata, data=data)


def derive(
    cause: Envelope[Any],
    data: D,
    *,
    actor: Actor = SYSTEM,
    chat_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[D]:
    """An event caused by another: same correlation id, causation id set to the cause's event id, and
    (in the same chat) routed to the same extensions and for the same audience: what a whisper
    caused may quote it, so it must reach no one the whisper did not."""
    same_chat = chat_id in (None, cause.metadata.chat_id)
    derived = new_event(
        data,
        chat_id=chat_id or cause.metadata.chat_id,
        actor=actor,
        correlation_id=cause.metadata.correlation_id,
        causation_id=cause.metadata.event_id,
        occurred_at=occurred_at,
        extensions=cause.metadata.extensions if same_chat else (),
    )
    if not same_chat or cause.metadata.audience is None:
        return derived
    metadata = derived.metadata.model_copy(update={"audience": cause.metadata.audience})
    return derived.model_copy(update={"metadata": metadata})


EXTENSION_MESSAGE_NAMESPACE = uuid.UUID("0c9e3f0a-7f49-4a55-9a1e-5b2d1f6c8e31")


def extension_message_id(extension_id: str, request_id: str) -> str:
    """The id of the message an extension's request stores: derived, so the extension knows it when it
    asks (``ctx.post_message`` returns it) and can update the message later."""
    return str(uuid.uuid5(EXTENSION_MESSAGE_NAMESPACE, f"{extension_id}:{request_id}"))


def data_model(event_type: str) -> type[EventData]:
    try:
        return CATALOG[event_type]
    except KeyError:
        raise CatalogError(f"unknown event type {event_type!r}") from None


def parse_detail(detail: Mapping[str, Any]) -> Envelope[EventData]:
    """Validate an EventBridge ``detail`` into the envelope of its catalogued event type."""
    try:
        metadata = Metadata.model_validate(detail.get("metadata"))
    except ValidationError as exc:
        raise EventParseError(f"bad event metadata: {exc.errors(include_url=False)}") from exc
    model = data_model(metadata.event_type)
    if metadata.version > model.version:
        raise EventParseError(
            f"{metadata.event_type} version {metadata.version} is newer than this code ({model.version})"
        )
    try:
        data = model.model_validate(detail.get("data"))
    except ValidationError as exc:
        raise EventParseError(f"bad data for {metadata.event_type}: {exc.errors(include_url=False)}") from exc
    return Envelope(metadata=metadata, data=data)


def envelope_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema of one event's full envelope, as published to docs and the schema registry."""
    model = data_model(event_type)
    schema = Envelope[model].model_json_schema()  # type: ignore[valid-type]
    schema["title"] = event_type
    schema["description"] = model.description
    schema["x-parley-version"] = model.version
    schema["x-parley-ephemeral"] = model.ephemeral
    schema["x-parley-on-bus"] = model.on_bus
    return schema


# --------------------------------------------------------------------------------------------------
# Shared views carried inside events
# --------------------------------------------------------------------------------------------------

TurnMode = Literal["free", "round_robin", "alternating", "moderated"]
ParticipantKind = Literal["human", "ai"]
SenderKind = Literal["human", "ai", "extension"]
"""Who wrote a message: extensions post as their own bot (never a chat participant, never holding a turn)."""
Role = Literal["owner", "moderator", "member"]


class ParticipantView(_Frozen):
    id: str
    name: str
    kind: ParticipantKind
    role: Role


class MessageView(_Frozen):
    message_id: str
    chat_id: str
    sequence: int = Field(ge=1, description="Position among the chat's messages: 1, 2, 3... without gaps.")
    sender_id: str
    sender_name: str
    sender_kind: SenderKind
    text: str
    client_message_id: str | None = None
    created_at: datetime
    to: tuple[str, ...] | None = Field(
        default=None,
        description="A whisper's addressees: only they and the sender see it (null: every member).",
    )
    filtered: Literal["hidden", "rewritten"] | None = Field(
        None,
        description="Set only in what a viewer reads, when a read filter (an extension's `on_read` hook) "
        "changed this message for them: `hidden` (its text is empty) or `rewritten`.",
    )
    blocks: tuple[Block, ...] | None = Field(
        None,
        description="An extension's interactive blocks (`messages:interactive`); `text` is their plain "
        "fallback. Absent on a plain message.",
    )
    blocks_version: int | None = Field(
        None, ge=1, description=f"The blocks schema version they follow (now {BLOCKS_VERSION})."
    )
    version: int = Field(
        1,
        ge=1,
        description="1 as posted, one more per MessageUpdated: a client keeps the highest it saw, so an "
        "older update arriving late never overwrites a newer one. Absent means 1.",
    )
    edited_at: datetime | None = Field(None, description="When its author last updated it (the edit marker).")

    # no return annotation on purpose: pydantic then keeps the model's own serialization schema
    @model_serializer(mode="wrap")
    def _without_unfiltered(self, dump: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        """Stored events and unfiltered reads stay as they were: ``filtered``, blocks and the edit
        marker appear only when set."""
        data: dict[str, Any] = dump(self)
        for name in ("filtered", "blocks", "blocks_version", "edited_at"):
            if data.get(name) is None:
                data.pop(name, None)
        if data.get("version") == 1:
            data.pop("version", None)  # a message as posted stays as it was stored before edits existed
        return data


# --------------------------------------------------------------------------------------------------
# Chat life cycle
# --------------------------------------------------------------------------------------------------


@event
class ChatCreated(EventData):
    event_type = "ChatCreated"
    version = 1
    description = "A chat was created; its creator (and any AI participants) are its first members."
    producers = ("api",)

    title: str
    turn_mode: TurnMode
    created_by: str
    participants: tuple[ParticipantView, ...]
    settings: dict[str, Any]


@event
class ChatSettingsChanged(EventData):
    event_type = "ChatSettingsChanged"
    version = 1
    description = "A moderator changed chat settings; `changes` holds only the fields that changed."
    producers = ("api",)

    changed_by: str
    changes: dict[str, Any]
    turn_mode: TurnMode
    settings: dict[str, Any]


@event
class ChatCompleted(EventData):
    event_type = "ChatCompleted"
    version = 1
    description = "The chat was closed; no further messages are accepted."
    producers = ("api",)

    completed_by: str
    reason: str = "completed"


@event
class UserJoined(EventData):
    event_type = "UserJoined"
    version = 1
    description = "A person or AI participant became a member of the chat."
    producers = ("api",)

    participant: ParticipantView
    turn_mode: TurnMode
    joined_at: datetime | None = Field(
        None, description="The member's place in join order (turn order); absent on older events."
    )
    ai: dict[str, Any] | None = Field(
        None, description="An AI participant's profile (persona, provider, model, invocation)."
    )


@event
class UserLeft(EventData):
    event_type = "UserLeft"
    version = 1
    description = "A member left the chat (or was removed)."
    producers = ("api",)

    participant_id: str
    reason: Literal["left", "removed"] = "left"
    turn_mode: TurnMode


# --------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------


@event
class MessageRejected(EventData):
    event_type = "MessageRejected"
    version = 1
    description = "A message was refused (out of turn, chat completed, moderation); nothing was stored."
    producers = ("api", "moderation")

    sender_id: str
    reason: str = Field(description="Machine-readable code, e.g. `not_your_turn`, `chat_completed`.")
    detail: str
    client_message_id: str | None = None
    turn_holder_id: str | None = None


@event
class MessageStored(EventData):
    event_type = "MessageStored"
    version = 1
    description = "A message is stored and visible in history; the main trigger of the flow."
    producers = ("api", "ai-responder")

    message: MessageView
    turn_mode: TurnMode
    turn_number: int = Field(ge=0, description="The turn the message was posted in.")


@event
class MessageModerated(EventData):
    event_type = "MessageModerated"
    version = 1
    description = (
        "A moderation hook ruled on a message before anyone saw it: allowed, rejected or rewritten. "
        "`outcome` says whether the extension decided or the chat's fallback applied."
    )
    producers = ("api", "ai-responder", "extension_gateway")

    message_id: str
    sender_id: str
    extension_id: str
    action: Literal["allow", "reject", "rewrite"]
    reason: str = ""
    outcome: Literal["decided", "timeout", "error"] = "decided"
    elapsed_ms: float = Field(ge=0)


@event
class MessageUpdated(EventData):
    event_type = "MessageUpdated"
    version = 1
    description = (
        "The extension that posted a message changed it (`ctx.update_message`, needs "
        "`messages:interactive`): `message` is its latest version (text, blocks, `version`, "
        "`edited_at`), for everyone who may see the original. History shows this version."
    )
    producers = ("extension_gateway",)

    message: MessageView
    extension_id: str = Field(description="The extension that owns the message and updated it.")


@event
class InteractionSubmitted(EventData):
    event_type = "InteractionSubmitted"
    version = 1
    description = (
        "A member clicked a button, chose an option, submitted a form or voted in a poll of an "
        "extension's message (POST /chats/{chat_id}/messages/{message_id}/actions or `submitAction`), "
        "checked against the message's blocks at that moment. Routed only to the extension that owns "
        "the message; once per `client_action_id`. Seen by that member and that extension only."
    )
    producers = ("api", "realtime")

    submission_id: str = Field(description="The answer to the action's request; a retry gets the same.")
    client_action_id: str
    message_id: str
    message_version: int = Field(ge=1, description="The message's version the action was checked against.")
    extension_id: str = Field(description="The extension that owns the message: the only one it goes to.")
    action_id: str
    values: Values = Field(default_factory=dict)
    participant_id: str


# --------------------------------------------------------------------------------------------------
# Turns
# --------------------------------------------------------------------------------------------------


@event
class TurnChanged(EventData):
    event_type = "TurnChanged"
    version = 1
    description = "The floor moved: `holder_id` may post now (null means the floor is open to all)."
    producers = ("api", "turns", "outbox_sweeper", "ai-responder")

    turn_mode: TurnMode
    holder_id: str | None
    previous_holder_id: str | None = None
    turn_number: int = Field(ge=0)
    reason: Literal["started", "message", "joined", "left", "timeout", "mode_changed", "granted", "ai_failed"]


@event
class TurnValidationRequested(EventData):
    event_type = "TurnValidationRequested"
    version = 1
    description = (
        "A custom turn policy (an extension with `turns:control`) ruled on whether a post is in turn; "
        "recorded with its ruling, or the chat's fallback on time-out or error."
    )
    producers = ("api",)

    message_id: str
    sender_id: str
    turn_number: int = Field(ge=0)
    extension_id: str | None = Field(None, description="The extension that ruled (absent on requests).")
    allowed: bool | None = Field(None, description="Its ruling; null on the request itself.")
    reason: str = ""
    outcome: Literal["decided", "timeout", "error"] | None = None


# --------------------------------------------------------------------------------------------------
# AI participants
# --------------------------------------------------------------------------------------------------


@event
class AIResponseRequested(EventData):
    event_type = "AIResponseRequested"
    version = 1
    description = "An AI participant should answer (its turn came, it was mentioned, or it always answers)."
    producers = ("api", "turns", "outbox_sweeper", "ai-responder")

    request_id: str
    participant_id: str
    trigger: Literal["turn", "mention", "always"]
    after_message_sequence: int = Field(ge=0)


@event
class AIResponseStarted(EventData):
    event_type = "AIResponseStarted"
    version = 1
    description = "The AI responder called the model; chunks follow on the chat's sockets."
    producers = ("ai-responder",)

    request_id: str
    participant_id: str
    model: str


@event
class AIResponseChunk(EventData):
    event_type = "AIResponseChunk"
    version = 1
    description = (
        "A piece of a streamed AI reply; pushed to sockets only, never put on the bus or stored. "
        "Never sent in a chat with a moderation hook: there the reply waits for the hooks' ruling."
    )
    producers = ("ai-responder",)
    ephemeral = True
    on_bus = False

    request_id: str
    participant_id: str
    index: int = Field(ge=0)
    text: str


@event
class AIResponseCompleted(EventData):
    event_type = "AIResponseCompleted"
    version = 1
    description = "The AI reply is stored as a message; timings and token counts for analytics."
    producers = ("ai-responder",)

    request_id: str
    participant_id: str
    message_id: str
    message_sequence: int = Field(ge=1)
    time_to_first_token_ms: float = Field(ge=0)
    duration_ms: float = Field(ge=0)
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


@event
class AIResponseFailed(EventData):
    event_type = "AIResponseFailed"
    version = 1
    description = (
        "The AI reply failed (model error, throttling, time-out, chat completed); the turn moves on."
    )
    producers = ("ai-responder",)

    request_id: str
    participant_id: str
    reason: Literal["model_error", "throttled", "timeout", "cancelled"]
    detail: str


# --------------------------------------------------------------------------------------------------
# Presence (ephemeral)
# --------------------------------------------------------------------------------------------------


@event
class TypingStarted(EventData):
    event_type = "TypingStarted"
    version = 1
    description = "A member is typing; throttled, expires by itself, never stored in history."
    producers = ("realtime",)
    ephemeral = True

    participant_id: str
    expires_in_seconds: int = Field(default=5, ge=1)


@event
class TypingStopped(EventData):
    event_type = "TypingStopped"
    version = 1
    description = "A member stopped typing (sent the message, or the indicator expired)."
    producers = ("realtime",)
    ephemeral = True

    participant_id: str


@event
class PresenceChanged(EventData):
    event_type = "PresenceChanged"
    version = 1
    description = (
        "A member came online in the chat (their first socket subscribed to it) or went offline (their "
        "last one closed or unsubscribed); announced on change only, never stored in history."
    )
    producers = ("realtime",)
    ephemeral = True

    participant_id: str
    online: bool
    online_ids: tuple[str, ...] = Field(
        default=(), description="Every member online in the chat now, the subject included if online."
    )


# --------------------------------------------------------------------------------------------------
# Extensions
# --------------------------------------------------------------------------------------------------


@event
class ExtensionInstalled(EventData):
    event_type = "ExtensionInstalled"
    version = 1
    description = "An extension was installed on a chat with a validated config."
    producers = ("api",)

    extension_id: str
    extension_version: str
    config: dict[str, Any]
    enabled: bool
    installed_by: str | None = Field(None, description="Who installed it; `parley` for a default install.")
    active_since: int | None = Field(
        None, ge=0, description="The chat's last event-log sequence before the install."
    )


@event
class ExtensionActivated(EventData):
    event_type = "ExtensionActivated"
    version = 1
    description = "An installed extension was enabled on the chat (or re-enabled after its circuit opened)."
    producers = ("api",)

    extension_id: str
    backfill_through: int | None = Field(
        None,
        ge=1,
        description="Its manifest asks for history: the chat's events up to this sequence are delivered "
        "to it first (a backfill), marked replayed.",
    )


@event
class ExtensionConfigChanged(EventData):
    event_type = "ExtensionConfigChanged"
    version = 1
    description = "A moderator changed an extension's per-chat config."
    producers = ("api",)

    extension_id: str
    config: dict[str, Any]


@event
class ExtensionDeactivated(EventData):
    event_type = "ExtensionDeactivated"
    version = 1
    description = "An extension was disabled on the chat by a moderator."
    producers = ("api",)

    extension_id: str
    reason: str = "disabled"


@event
class ExtensionUninstalled(EventData):
    event_type = "ExtensionUninstalled"
    version = 1
    description = "An extension was removed from the chat with its config."
    producers = ("api",)

    extension_id: str


@event
class ExtensionFailed(EventData):
    event_type = "ExtensionFailed"
    version = 1
    description = "An extension's handler failed on an event; counts toward its circuit breaker."
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    failed_event_id: str
    error: str
    consecutive_failures: int = Field(ge=1)


@event
class ExtensionDisabled(EventData):
    event_type = "ExtensionDisabled"
    version = 1
    description = (
        "An extension's circuit opened after repeated failures; it is off for the chat until a "
        "moderator enables it again. Pushed to the chat's moderators as a notice."
    )
    producers = ("extension_gateway",)
    audience = "moderators"

    extension_id: str
    reason: str
    consecutive_failures: int = Field(ge=0)


@event
class ExtensionShadowChanged(EventData):
    event_type = "ExtensionShadowChanged"
    version = 1
    description = (
        "A moderator put an install in shadow mode or out of it (`shadow`: it runs on live events, its "
        "outputs and rulings are recorded as ExtensionShadowOutput, never applied), or set the "
        "`shadow_config` its hooks also rule with beside the live config."
    )
    producers = ("api",)

    extension_id: str
    shadow: bool
    shadow_config: dict[str, Any] | None = Field(None, description="Secrets redacted, as in `config`.")


@event
class ExtensionShadowOutput(EventData):
    event_type = "ExtensionShadowOutput"
    version = 1
    description = (
        "What an extension in shadow mode would have done, recorded instead of applied: a bot message, "
        "an event, AI context, or a hook's ruling (a shadow install's, or one with its `shadow_config` "
        "beside the live ruling). For the chat's owner and moderators only."
    )
    producers = ("api", "ai-responder", "extension_gateway")
    audience = "moderators"

    extension_id: str
    output_type: str = Field(
        description="The event it would have caused: ExtensionMessageRequested, ExtensionEphemeralRequested, "
        "ExtensionEvent, AIContextContributed, MessageModerated or TurnValidationRequested."
    )
    output: dict[str, Any] = Field(
        description="That event's data (a rewrite's ruling adds its `text`); an ephemeral message's is "
        "only `request_id`, `participant_id` and `text_length`, as its text is never stored."
    )
    config: Literal["config", "shadow_config"] = Field(
        "config", description="Which of the install's configs it ran with."
    )


class StepOutcome(_Frozen):
    """One step of a workflow run: done (`ok`: asked of the core, which may still refuse and record
    it, as any extension's request), `refused` before it ran (a capability the extension lacks, a
    URL it may not call), or `failed` while running (a webhook that did not take it)."""

    index: int = Field(ge=0)
    do: str = Field(max_length=20)
    outcome: Literal["ok", "refused", "failed"]
    reason: str = Field("", max_length=200)


class _WorkflowRunData(EventData):
    extension_id: str
    workflow_id: str = Field(max_length=40)
    trigger_event_id: str
    trigger_event_type: str
    trigger_sequence: int | None = Field(None, ge=1)
    steps: tuple[StepOutcome, ...] = Field(max_length=20)


@event
class WorkflowRunReported(_WorkflowRunData):
    event_type = "WorkflowRunReported"
    version = 1
    description = (
        "The workflows extension ran one of a chat's workflows (needs `workflows:run`); the core "
        "checks it and records it as WorkflowRun. Never stored, delivered to no extension."
    )
    producers = ("extensions",)
    ephemeral = True


@event
class ScheduleReached(EventData):
    event_type = "ScheduleReached"
    version = 1
    description = (
        "A slot of an extension's schedule began (its tick found `key` due on the chat): the cause the "
        "extension SDK hands the handler, with an id derived from (chat, key, slot), so a slot runs once "
        "however often it is ticked. Never published, never stored."
    )
    producers = ("extensions",)
    ephemeral = True
    on_bus = False

    extension_id: str
    key: str = Field(max_length=100, description="What is due, e.g. a workflow's id.")
    slot: datetime = Field(description="When the slot began (UTC).")


@event
class WorkflowRun(_WorkflowRunData):
    event_type = "WorkflowRun"
    version = 1
    description = (
        "One run of a chat's workflow: the event that triggered it and each step's outcome. For the "
        "chat's owner and moderators only."
    )
    producers = ("extension_gateway",)
    audience = "moderators"


@event
class ExtensionEvent(EventData):
    event_type = "ExtensionEvent"
    version = 1
    description = (
        "A custom event an extension emits for other extensions (needs `events:emit`); `name` is "
        "namespaced by the extension, e.g. `sentiment.scored`."
    )
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)


@event
class ExtensionEventRejected(EventData):
    event_type = "ExtensionEventRejected"
    version = 1
    description = (
        "The core refused an event of an extension enabled on the chat (missing capability, wrong "
        "source, a bot message the chat can never take, or one over the chat's rate for extensions: "
        "`rate_limited`); other refusals are only logged."
    )
    producers = ("extension_gateway",)

    extension_id: str
    rejected_event_type: str
    rejected_event_id: str
    reason: str


@event
class ExtensionRecovered(EventData):
    event_type = "ExtensionRecovered"
    version = 1
    description = "An extension handled an event after failing: its consecutive-failure count starts again."
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    after_failures: int = Field(ge=1)


@event
class ExtensionMessageRequested(EventData):
    event_type = "ExtensionMessageRequested"
    version = 1
    description = (
        "An extension asks to post a message as its bot (needs `messages:write`); the core stores it "
        "as MessageStored, once per `request_id`."
    )
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    request_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, description="The message, or with `blocks` their plain fallback.")
    blocks: tuple[Block, ...] | None = Field(
        None, description="Interactive blocks (needs `messages:interactive` as well)."
    )


@event
class ExtensionMessageUpdateRequested(EventData):
    event_type = "ExtensionMessageUpdateRequested"
    version = 1
    description = (
        "An extension asks to change one of its own messages (needs `messages:interactive`); the core "
        "stores it as MessageUpdated, once per `request_id`. Null fields keep what the message has."
    )
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    request_id: str = Field(min_length=1, max_length=128)
    message_id: str = Field(min_length=1, max_length=128)
    text: str | None = Field(None, min_length=1)
    blocks: tuple[Block, ...] | None = Field(None, description="An empty list removes them.")
    revision: int | None = Field(
        None,
        ge=1,
        description="How new this state is, counted by the extension: an update at or below the "
        "revision the message shows already is dropped, so updates that arrive out of order never "
        "show an older state.",
    )


@event
class ExtensionEphemeralRequested(EventData):
    event_type = "ExtensionEphemeralRequested"
    version = 1
    description = (
        "An extension asks to show `text` to one member only (needs `messages:ephemeral`); the core "
        "checks it and pushes an EphemeralMessage to that member's sockets. Never stored, never "
        "archived, never delivered to any extension: only the core's gateway receives it."
    )
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    request_id: str = Field(min_length=1, max_length=128)
    participant_id: str = Field(min_length=1, max_length=128, description="The member who sees it.")
    text: str = Field(min_length=1)


@event
class ExtensionFloorRequested(EventData):
    event_type = "ExtensionFloorRequested"
    version = 1
    description = (
        "An extension asks to give the floor to one member (needs `turns:give`); the core applies the "
        "rule a moderator's POST /chats/{chat_id}/turn follows (an active moderated chat, a member), "
        "once per `request_id`, and records a refusal as ExtensionEventRejected. Delivered to no extension."
    )
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    request_id: str = Field(min_length=1, max_length=128)
    participant_id: str = Field(min_length=1, max_length=128, description="The member who gets the floor.")


@event
class ExtensionSettingsRequested(EventData):
    event_type = "ExtensionSettingsRequested"
    version = 1
    description = (
        "An extension asks to change chat settings (needs `settings:write`): only `turn_mode`, "
        "`turn_timeout_seconds`, `max_message_length`, `rate_limit_messages` and "
        "`rate_limit_window_seconds`, validated as PATCH /chats/{chat_id}/settings, once per "
        "`request_id`; a refusal is recorded as ExtensionEventRejected. Delivered to no extension."
    )
    producers = ("extensions",)
    ephemeral = True

    extension_id: str
    request_id: str = Field(min_length=1, max_length=128)
    changes: dict[str, Any] = Field(min_length=1, max_length=10, description="Setting name to new value.")


@event
class EphemeralMessage(EventData):
    event_type = "EphemeralMessage"
    version = 1
    description = (
        "A message for one member only (an extension's `messages:ephemeral` output, or the core's): "
        "pushed to that member's sockets on the chat and to no one else; never stored, never on the "
        "bus, no sequence, not in history. Dropped if the member has no socket on the chat."
    )
    producers = ("extension_gateway",)
    ephemeral = True
    on_bus = False

    message_id: str = Field(description="Unique per message; a repeated push carries the same id.")
    participant_id: str = Field(description="The only member who gets it.")
    sender_id: str = Field(description="`ext:<extension id>` for an extension, `parley` for the core.")
    sender_name: str
    sender_kind: Literal["extension", "system"]
    extension_id: str | None = None
    text: str


MAX_COMMAND_ARGS = 20
"""A slash command carries at most this many arguments (a poll's question and its options)."""


@event
class SlashCommandInvoked(EventData):
    event_type = "SlashCommandInvoked"
    version = 1
    description = (
        "A member typed `/<command> ...` where an extension enabled on the chat declares `<command>`: "
        "nothing is stored as a message; routed only to that extension (`metadata.extensions` is its id "
        "alone). Never in the event log: `command_id` is derived from the caller and its "
        "`client_message_id`, so a retried post is the same command, handled once."
    )
    producers = ("api", "realtime")
    ephemeral = True

    extension_id: str = Field(description="The extension that declares the command.")
    command_id: str = Field(description="The invocation's id, the one the post answered with (202).")
    command: str = Field(description="The command's name, without the slash.")
    args: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_COMMAND_ARGS,
        description='The text after the name split shell-like: `"Lunch?" Pizza` is `["Lunch?", "Pizza"]`.',
    )
    raw: str = Field(description="The text as typed.")
    client_message_id: str | None = None


@event
class AIContextContributed(EventData):
    event_type = "AIContextContributed"
    version = 1
    description = (
        "An extension with `ai:context` set the text the AI participants of the chat see in their "
        "context (empty clears it); bounded in size."
    )
    producers = ("extensions",)

    extension_id: str
    text: str = Field(max_length=2000)


@event
class ReadMarkerMoved(EventData):
    event_type = "ReadMarkerMoved"
    version = 1
    description = (
        "A member marked the chat read up to `last_read_sequence` (POST /chats/{chat_id}/read); pushed "
        "only to that member's own sockets on the chat, never to other members, never stored."
    )
    producers = ("api",)
    ephemeral = True
    on_bus = False

    user_id: str
    last_read_sequence: int = Field(ge=0)
    unread: int = Field(ge=0, description="Messages after the marker, as the inbox counts them.")


@event
class Withheld(EventData):
    event_type = "Withheld"
    version = 1
    description = (
        "A content-free marker at the `sequence` of a stored event this viewer may not see (a whisper "
        "to others, a notice for moderators): in pushes, resume replays and GET /chats/{chat_id}/events, "
        "so gap detection goes on. Never stored, never on the bus; carries nothing but its sequence."
    )
    producers = ("broadcaster", "realtime", "api")
    ephemeral = True
    on_bus = False


# --------------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------------


@event
class HandlerFailed(EventData):
    event_type = "HandlerFailed"
    version = 1
    description = (
        "A consumer failed an event on its last attempt: the event goes to that route's "
        "dead-letter queue and can be redriven."
    )
    producers = ("turns", "ai_responder", "broadcaster", "extension_gateway")

    handler: str
    failed_event_id: str
    failed_event_type: str
    error: str
    attempts: int = Field(ge=1)


ClientVisible = Literal[
    "MessageStored",
    "MessageUpdated",
    "TurnChanged",
    "UserJoined",
    "UserLeft",
    "TypingStarted",
    "TypingStopped",
    "PresenceChanged",
    "AIResponseStarted",
    "AIResponseChunk",
    "AIResponseCompleted",
    "AIResponseFailed",
    "ChatSettingsChanged",
    "ChatCompleted",
    "ExtensionDisabled",
    "ReadMarkerMoved",
    "EphemeralMessage",
    "ExtensionShadowOutput",
    "WorkflowRun",
    "Withheld",
]
"""Event types pushed to chat members' sockets: the one list, which the frame protocol's ``type``
(``parley.realtime.frames.FrameType``), the broadcaster's route and the AsyncAPI document derive from."""

CLIENT_VISIBLE: frozenset[str] = frozenset(get_args(ClientVisible))
