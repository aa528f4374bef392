"""Request and response bodies of the HTTP API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.blocks import ACTION_ID, MAX_INPUTS
from parley.catalog import MAX_WHISPER_RECIPIENTS, MessageView, ParticipantKind, Role, TurnMode
from parley.domain.inbox import LastMessage
from parley.domain.model import (
    MAX_MESSAGE_LENGTH,
    MAX_PERSONA_BYTES,
    AIProfile,
    Chat,
    ChatSettings,
    Install,
    InstallStatus,
    json_bytes,
)
from parley.extensions.manifest import ExtensionDocument
from parley.realtime.frames import ActionValue, Frame


class _Out(BaseModel):
    # a model's validator is built when a route first uses it, not for all of them at import
    model_config = ConfigDict(defer_build=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AIParticipantIn(_Request):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Stable id, unique in the chat.")
    name: str = Field(min_length=1, max_length=64, description="Display name; `@name` mentions it.")
    persona: str = Field("", max_length=8000)
    provider: str = Field("local", max_length=64)
    model: str = Field("", max_length=256)
    invocation: Literal["on_turn", "on_mention", "always"] | None = None

    def profile(self) -> AIProfile:
        return AIProfile(
            persona=self.persona, provider=self.provider, model=self.model, invocation=self.invocation
        )


class CreateChatRequest(_Request):
    title: str = Field(min_length=1, max_length=200)
    turn_mode: TurnMode
    ai_participants: list[AIParticipantIn] = Field(
        default_factory=list,
        max_length=10,
        description=f"Their personas take at most {MAX_PERSONA_BYTES} bytes together, as JSON in UTF-8.",
    )
    settings: ChatSettings | None = None

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()

    @field_validator("ai_participants")
    @classmethod
    def _bounded_personas(cls, value: list[AIParticipantIn]) -> list[AIParticipantIn]:
        size = sum(json_bytes(p.persona) for p in value)
        if size > MAX_PERSONA_BYTES:
            raise ValueError(
                f"the personas take {size} bytes as JSON; a chat holds at most {MAX_PERSONA_BYTES}"
            )
        return value


class PostMessageRequest(_Request):
    text: str = Field(
        min_length=1, max_length=MAX_MESSAGE_LENGTH, description="Also limited by the chat's setting."
    )
    client_message_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Retry key: the same value again returns the first message and stores nothing.",
    )
    to: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None,
        min_length=1,
        max_length=MAX_WHISPER_RECIPIENTS,
        description=f"A whisper: 1 to {MAX_WHISPER_RECIPIENTS} distinct participant ids, each a current "
        "member (a person or an AI participant); the sender is implied. Only the sender and they receive "
        "it, see it in history or count it as unread; everyone else gets a `Withheld` marker at its "
        "sequence. Absent: every member.",
    )
    origin_connection_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The caller's WebSocket connection (the `Subscribed` frame's `data.connection_id`): "
        "that socket gets no push of this message, since this answer is its copy (its `frame`); the "
        "caller's other sockets still get the push. "
        "A connection that is not the caller's is pushed to as usual.",
    )


class PostedMessage(MessageView):
    """POST's answer: the message, and its MessageStored frame for the socket that is not sent it."""

    frame: Frame | None = Field(
        None,
        description="This post's `MessageStored` frame, as a socket gets it: the socket named in "
        "`origin_connection_id` is not sent it, so its client applies this one in its place (in "
        "sequence order, like any frame). Null when a retried `client_message_id` replays the first "
        "message.",
    )


class AcceptedCommand(_Out):
    """A post that was a slash command (202): nothing was stored; its extension handles it."""

    command_id: str = Field(
        description="The invocation's id (`SlashCommandInvoked.command_id`); the same for a retried "
        "`client_message_id`."
    )
    command: str = Field(description="The command's name, without the slash.")
    extension_id: str = Field(description="The extension that declares the command and handles it.")
    args: tuple[str, ...] = Field(description="The arguments as split (quoted strings kept whole).")


class CommandInfo(_Out):
    """A command members of the chat may type (the composer's autocomplete)."""

    name: str = Field(description="Typed after the slash.")
    description: str
    usage: str = Field(description="Its arguments, for the composer's hint.")
    extension_id: str = Field(description="The enabled extension that answers it.")


class CommandList(_Out):
    items: list[CommandInfo]


class SubmitActionRequest(_Request):
    """A click, a choice, a form's submit or a vote on an extension's message with blocks."""

    action_id: str = Field(pattern=ACTION_ID, description="The block's (or button's) `action_id`.")
    values: dict[Annotated[str, Field(max_length=32)], ActionValue] = Field(
        default_factory=dict,
        max_length=MAX_INPUTS,
        description="A form's inputs by `name` (text a string, number a JSON number, choice an option's "
        '`value`), a select\'s `{"value": ...}`, a poll\'s `{"option": <option id>}`; a button takes none.',
    )
    client_action_id: str = Field(
        min_length=1,
        max_length=128,
        description="Retry key: the same value again answers the first submission and sends nothing.",
    )


class SubmittedAction(_Out):
    submission_id: str = Field(description="The InteractionSubmitted's `submission_id`.")
    replayed: bool = Field(description="True when this answers a retried `client_action_id`.")


class GrantTurnRequest(_Request):
    participant_id: str = Field(min_length=1, max_length=128, description="The member who gets the floor.")


class SettingsPatch(_Request):
    turn_mode: TurnMode | None = None
    max_message_length: int | None = Field(None, ge=1, le=MAX_MESSAGE_LENGTH)
    rate_limit_messages: int | None = Field(None, ge=1, le=10_000)
    rate_limit_window_seconds: int | None = Field(None, ge=1, le=3600)
    turn_timeout_seconds: int | None = Field(None, ge=5, le=86_400)
    hook_fallback: Literal["allow", "reject"] | None = None
    extension_messages_per_minute: int | None = Field(None, ge=1, le=600)
    extension_messages_per_minute_total: int | None = Field(None, ge=1, le=6000)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ParticipantOut(_Out):
    id: str
    name: str
    kind: ParticipantKind
    role: Role
    joined_at: datetime
    ai: AIProfile | None = None


class TurnOut(_Out):
    holder_id: str | None
    turn_number: int
    since: datetime | None


class ChatOut(_Out):
    chat_id: str
    title: str
    status: Literal["active", "completed"]
    turn_mode: TurnMode
    settings: ChatSettings
    participants: list[ParticipantOut]
    turn: TurnOut
    created_by: str
    created_at: datetime
    last_sequence: int = Field(description="Sequence of the chat's latest message (0 when none).")
    last_event_sequence: int = Field(description="Sequence of the latest entry in the chat's event log.")

    @classmethod
    def of(cls, chat: Chat) -> ChatOut:
        return cls(
            chat_id=chat.chat_id,
            title=chat.title,
            status=chat.status,
            turn_mode=chat.turn_mode,
            settings=chat.settings,
            participants=[ParticipantOut.model_validate(p.model_dump()) for p in chat.participants],
            turn=TurnOut(
                holder_id=chat.turn.holder_id, turn_number=chat.turn.turn_number, since=chat.turn.since
            ),
            created_by=chat.created_by,
            created_at=chat.created_at,
            last_sequence=chat.last_message_sequence,
            last_event_sequence=chat.last_event_sequence,
        )


class ChatListItem(ChatOut):
    """A chat as the caller's chat list shows it: the chat, and the caller's inbox for it."""

    unread: int = Field(ge=0, description="Messages after the caller's read marker.")
    last_message: LastMessage | None = Field(description="The chat's latest message; null when none.")
    last_read_sequence: int = Field(
        ge=0, description="The caller's read marker: the last message sequence they have read."
    )


class ChatList(_Out):
    items: list[ChatListItem]
    next: str | None = Field(None, description="Pass as `cursor` to get the next page; null at the end.")


class ReadRequest(_Request):
    sequence: int = Field(ge=0, le=2**53 - 1, description="The last message sequence the caller has read.")

    @field_validator("sequence", mode="before")
    @classmethod
    def _a_json_integer(cls, value: Any) -> Any:
        """JSON Schema's integer: 3 and 3.0, never true or "3" (pydantic's lax int takes both)."""
        if isinstance(value, bool | str):
            raise ValueError("must be an integer")
        return value


class ReadOut(_Out):
    chat_id: str
    last_read_sequence: int = Field(ge=0, description="The caller's marker after the call.")
    unread: int = Field(ge=0, description="Messages after it.")
    moved: bool = Field(description="The marker moved forward (false when it was already there or past).")


class MessagePage(_Out):
    items: list[MessageView]
    next: str | None = Field(description="Pass as `after` to get the next page; null at the end.")


class EventItem(_Out):
    """One event of the log; a `Withheld` item (an event this member may not see) carries only its
    `event_type`, `sequence` and the chat id in `metadata`: the other fields are null."""

    event_id: str | None
    event_type: str
    sequence: int
    occurred_at: datetime | None
    correlation_id: str | None
    metadata: dict[str, Any]
    data: dict[str, Any]

    @classmethod
    def of(cls, detail: dict[str, Any]) -> EventItem:
        meta = detail["metadata"]
        return cls(
            event_id=meta.get("event_id"),
            event_type=meta["event_type"],
            sequence=meta["sequence"],
            occurred_at=meta.get("occurred_at"),
            correlation_id=meta.get("correlation_id"),
            metadata=meta,
            data=detail["data"],
        )


class EventPage(_Out):
    items: list[EventItem]
    next: str | None


class ExtensionList(_Out):
    items: list[ExtensionDocument] = Field(description="Every registered extension with its config schema.")


class PutInstallRequest(_Request):
    enabled: bool = Field(True, description="Off keeps the install and its config but delivers nothing.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="Validated against the extension's `config_schema`."
    )
    shadow: bool = Field(
        False,
        description="Shadow mode: it gets live events, but its bot messages, events, AI context and hook "
        "rulings are recorded as ExtensionShadowOutput (moderators only) and never applied.",
    )
    shadow_config: dict[str, Any] | None = Field(
        None,
        description="A second config (validated like `config`) its hooks also rule with beside the live "
        "one, each ruling recorded as ExtensionShadowOutput: compare, then PUT it as `config`.",
    )


class InstallOut(_Out):
    extension_id: str
    version: str
    enabled: bool
    status: InstallStatus
    config: dict[str, Any]
    installed_by: str
    installed_at: datetime
    consecutive_failures: int
    disabled_reason: str | None
    shadow: bool = False
    shadow_config: dict[str, Any] | None = None
    backfill_through: int | None = Field(
        None, description="The last sequence of the chat's past its last enabling asked a backfill of."
    )

    @classmethod
    def of(cls, install: Install) -> InstallOut:
        return cls(
            extension_id=install.extension_id,
            version=install.version,
            enabled=install.enabled,
            status=install.status,
            config=install.config,
            installed_by=install.installed_by,
            installed_at=install.installed_at,
            consecutive_failures=install.consecutive_failures,
            disabled_reason=install.disabled_reason,
            shadow=install.shadow,
            shadow_config=install.shadow_config,
            backfill_through=install.backfill_through,
        )


class InstallList(_Out):
    items: list[InstallOut]


class ErrorBody(_Out):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    fields: list[dict[str, Any]] = Field(default_factory=list)


class ErrorResponse(_Out):
    error: ErrorBody


class Health(_Out):
    status: Literal["ok"] = "ok"
