"""A chat's state as a pure fold of its event log: the log is the source of truth, the item a cache.

``fold`` rebuilds the chat from its events; ``differences`` compares that with the stored item on
the facts the log records (participants and roles, turn state, settings, status, installs, last
sequences, roster version); ``repaired`` is the stored item with those facts taken from the fold.
Windows and counters that no event records (the members' rate-limit window ``recent_posts``, the
bots' minute counters, an install's consecutive-failure count before its circuit opens, and its
version, refreshed from the registry without an event) are not facts of the log: a repair keeps the
stored ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from parley.catalog import (
    AIContextContributed,
    AIResponseFailed,
    ChatCompleted,
    ChatCreated,
    ChatSettingsChanged,
    Envelope,
    EventData,
    ExtensionActivated,
    ExtensionConfigChanged,
    ExtensionDeactivated,
    ExtensionDisabled,
    ExtensionInstalled,
    ExtensionShadowChanged,
    ExtensionUninstalled,
    MessageStored,
    TurnChanged,
    UserJoined,
    UserLeft,
)
from parley.domain.extensions import REDACTED
from parley.domain.model import CIRCUIT_OPEN, AIProfile, Chat, ChatSettings, Install, Participant, TurnState

COUNTERS = frozenset({"recent_posts", "bot_minute", "bot_posts"})
"""Chat fields that are windows and counters, not facts of the log: never compared, kept on repair."""
INSTALL_COUNTERS = frozenset({"consecutive_failures", "version"})
"""Install fields no event keeps current: the failure count before a circuit opens, and the version,
which a moderator's PUT after an upgrade refreshes from the registry without an event."""


class FoldError(Exception):
    """The log cannot be folded (it does not start with ChatCreated, or it has a gap)."""


@dataclass(frozen=True)
class Difference:
    """One fact on which the stored item and the log disagree (``path`` like ``turn.holder_id``)."""

    path: str
    stored: Any
    folded: Any

    def __str__(self) -> str:
        return f"{self.path}: stored {self.stored!r}, log says {self.folded!r}"


Step = Callable[[Chat, Any, Envelope[Any]], Chat]


def _joined(chat: Chat, data: UserJoined, env: Envelope[Any]) -> Chat:
    if chat.member(data.participant.id) is not None:
        return chat
    view = data.participant
    ai = data.ai if data.ai is not None else ({} if view.kind == "ai" else None)
    member = Participant(
        id=view.id,
        name=view.name,
        kind=view.kind,
        role=view.role,
        joined_at=data.joined_at or env.metadata.occurred_at,
        ai=AIProfile.model_validate(ai) if ai is not None else None,
    )
    return chat.model_copy(update={"participants": (*chat.participants, member)})


def _left(chat: Chat, data: UserLeft, env: Envelope[Any]) -> Chat:
    kept = tuple(p for p in chat.participants if p.id != data.participant_id)
    return chat.model_copy(update={"participants": kept})


def _settings(chat: Chat, data: ChatSettingsChanged, env: Envelope[Any]) -> Chat:
    settings = ChatSettings.model_validate(data.settings)
    return chat.model_copy(update={"settings": settings, "turn_mode": data.turn_mode})


def _completed(chat: Chat, data: ChatCompleted, env: Envelope[Any]) -> Chat:
    return chat.model_copy(update={"status": "completed"})


def _turn(chat: Chat, data: TurnChanged, env: Envelope[Any]) -> Chat:
    """The same state ``turns._move`` wrote: the holder's place, and the last person's."""
    holder = chat.member(data.holder_id) if data.holder_id else None
    last_human = chat.turn.last_human
    if holder is not None and holder.kind == "human":
        last_human = (holder.joined_at, holder.id)
    turn = TurnState(
        holder_id=data.holder_id,
        holder_joined_at=holder.joined_at if holder else None,
        holder_kind=holder.kind if holder else None,
        last_human=last_human,
        turn_number=data.turn_number,
        consumed=False,
        since=env.metadata.occurred_at,
        quiet_turns=chat.turn.quiet_turns + 1 if data.reason == "timeout" else 0,
    )
    return chat.model_copy(update={"turn": turn})


def _message(chat: Chat, data: MessageStored, env: Envelope[Any]) -> Chat:
    message = data.message
    update: dict[str, Any] = {"last_message_sequence": max(chat.last_message_sequence, message.sequence)}
    if message.sender_kind == "human":
        update["last_human_sequence"] = message.sequence
    elif message.sender_kind == "ai":
        update["ai_replied"] = {**chat.ai_replied, message.sender_id: message.sequence}
    if chat.turn_mode != "free" and chat.turn.holder_id == message.sender_id:
        update["turn"] = chat.turn.model_copy(update={"consumed": True})
    return chat.model_copy(update=update)


def _ai_failed(chat: Chat, data: AIResponseFailed, env: Envelope[Any]) -> Chat:
    if chat.member(data.participant_id) is None:
        return chat
    replied = {**chat.ai_replied, data.participant_id: chat.last_human_sequence}
    return chat.model_copy(update={"ai_replied": replied})


def _with_install(chat: Chat, extension_id: str, **update: Any) -> Chat:
    install = chat.extensions.get(extension_id)
    if install is None:
        return chat
    return chat.model_copy(
        update={"extensions": {**chat.extensions, extension_id: install.model_copy(update=update)}}
    )


def _installed(chat: Chat, data: ExtensionInstalled, env: Envelope[Any]) -> Chat:
    sequence = env.metadata.sequence or 1
    install = Install(
        extension_id=data.extension_id,
        version=data.extension_version,
        enabled=data.enabled,
        config=data.config,
        installed_by=data.installed_by or env.metadata.actor.id,
        installed_at=env.metadata.occurred_at,
        disabled_reason=None if data.enabled else "disabled",
        active_since=data.active_since if data.active_since is not None else sequence - 1,
    )
    return chat.model_copy(update={"extensions": {**chat.extensions, data.extension_id: install}})


def _uninstalled(chat: Chat, data: ExtensionUninstalled, env: Envelope[Any]) -> Chat:
    kept = {k: v for k, v in chat.extensions.items() if k != data.extension_id}
    return chat.model_copy(update={"extensions": kept})


STEPS: dict[type[EventData], Step] = {
    UserJoined: _joined,
    UserLeft: _left,
    ChatSettingsChanged: _settings,
    ChatCompleted: _completed,
    TurnChanged: _turn,
    MessageStored: _message,
    AIResponseFailed: _ai_failed,
    ExtensionInstalled: _installed,
    ExtensionUninstalled: _uninstalled,
    ExtensionActivated: lambda c, d, e: _with_install(
        c,
        d.extension_id,
        enabled=True,
        disabled_reason=None,
        consecutive_failures=0,
        **(
            {"backfill_through": d.backfill_through, "backfill_requested_at": e.metadata.occurred_at}
            if d.backfill_through is not None
            else {}
        ),
    ),
    ExtensionDeactivated: lambda c, d, e: _with_install(
        c, d.extension_id, enabled=False, disabled_reason="disabled"
    ),
    ExtensionDisabled: lambda c, d, e: _with_install(
        c,
        d.extension_id,
        enabled=False,
        disabled_reason=CIRCUIT_OPEN,
        consecutive_failures=d.consecutive_failures,
    ),
    ExtensionConfigChanged: lambda c, d, e: _with_install(c, d.extension_id, config=d.config),
    ExtensionShadowChanged: lambda c, d, e: _with_install(
        c, d.extension_id, shadow=d.shadow, shadow_config=d.shadow_config
    ),
    AIContextContributed: lambda c, d, e: _with_install(c, d.extension_id, ai_context=d.text),
}
"""What each event does to the chat; every other event type changes none of its facts."""


def _created(data: ChatCreated, env: Envelope[Any]) -> Chat:
    return Chat(
        chat_id=env.metadata.chat_id,
        title=data.title,
        turn_mode=data.turn_mode,
        settings=ChatSettings.model_validate(data.settings),
        created_by=data.created_by,
        created_at=env.metadata.occurred_at,
    )


def fold(events: Iterable[Envelope[Any]]) -> Chat | None:
    """The chat its log describes, or None for an empty log; events must come in sequence order."""
    chat: Chat | None = None
    for env in events:
        sequence = env.metadata.sequence
        if chat is None:
            if not isinstance(env.data, ChatCreated):
                raise FoldError(f"the log starts with {env.event_type}, not ChatCreated")
            chat = _created(env.data, env)
        elif sequence != chat.last_event_sequence + 1:
            raise FoldError(f"the log jumps from {chat.last_event_sequence} to {sequence}")
        else:
            step = STEPS.get(type(env.data))
            chat = step(chat, env.data, env) if step else chat
        chat = chat.model_copy(
            update={
                "last_event_sequence": sequence or chat.last_event_sequence,
                "roster_version": env.metadata.roster_version or chat.roster_version,
            }
        )
    return chat


def _facts(chat: Chat, redacted: dict[str, set[str]]) -> dict[str, Any]:
    """What the log records of a chat, as plain data; secrets the log shows redacted are redacted."""
    facts = chat.model_dump(mode="json", exclude=set(COUNTERS))
    for extension_id, install in facts["extensions"].items():
        for name in INSTALL_COUNTERS:
            install.pop(name, None)
        hidden = redacted.get(extension_id, set())
        install["config"] = {
            k: REDACTED if k in hidden and v is not None else v for k, v in install["config"].items()
        }
    return facts


def _redacted_keys(folded: Chat) -> dict[str, set[str]]:
    return {
        ext_id: {k for k, v in install.config.items() if v == REDACTED}
        for ext_id, install in folded.extensions.items()
    }


def _diff(path: str, stored: Any, folded: Any, out: list[Difference]) -> None:
    if isinstance(stored, dict) and isinstance(folded, dict):
        for key in sorted(set(stored) | set(folded), key=str):
            _diff(f"{path}.{key}" if path else str(key), stored.get(key), folded.get(key), out)
    elif stored != folded:
        out.append(Difference(path, stored, folded))


def differences(stored: Chat, folded: Chat) -> list[Difference]:
    """Where the stored item disagrees with its log, fact by fact; empty when they agree."""
    redacted = _redacted_keys(folded)
    found: list[Difference] = []
    _diff("", _facts(stored, redacted), _facts(folded, redacted), found)
    return found


def repaired(stored: Chat, folded: Chat) -> Chat:
    """The stored item with every fact taken from the log; counters, and secrets the log only shows
    redacted, stay as stored."""
    installs = {}
    for ext_id, install in folded.extensions.items():
        kept = stored.extensions.get(ext_id)
        config = {
            k: (kept.config.get(k, v) if kept is not None and v == REDACTED else v)
            for k, v in install.config.items()
        }
        counters = {name: getattr(kept if kept is not None else install, name) for name in INSTALL_COUNTERS}
        installs[ext_id] = install.model_copy(update={"config": config, **counters})
    return folded.model_copy(
        update={"extensions": installs, **{name: getattr(stored, name) for name in COUNTERS}}
    )
