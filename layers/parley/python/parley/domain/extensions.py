"""Extension installs as pure decisions on the chat aggregate.

Installs live in the chat item, so an install change, its life-cycle event and the chat's version
move together in one transaction, and the post path reads a chat's enabled extensions (its hooks)
from the item it loads anyway: a chat without extensions pays nothing for the platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from parley.blocks import BLOCKS_VERSION, Block, check_bounds
from parley.catalog import (
    AIContextContributed,
    Envelope,
    EventData,
    ExtensionActivated,
    ExtensionConfigChanged,
    ExtensionDeactivated,
    ExtensionDisabled,
    ExtensionEventRejected,
    ExtensionInstalled,
    ExtensionShadowChanged,
    ExtensionShadowOutput,
    ExtensionUninstalled,
    InteractionSubmitted,
    MessageStored,
    MessageView,
)
from parley.domain.model import (
    CIRCUIT_OPEN,
    MAX_AI_CONTEXT_BYTES,
    MAX_CONFIG_BYTES,
    MAX_INSTALLS,
    MAX_MESSAGE_LENGTH,
    Chat,
    Install,
    Outcome,
    json_bytes,
)
from parley.errors import (
    ChatCompletedError,
    ForbiddenError,
    InvalidConfigError,
    InvalidRequestError,
    RateLimitedError,
)

MAX_AI_CONTEXT = 2000
REDACTED = "********"
"""What members see instead of a write-only setting (a secret); sent back in a PUT, it keeps the
stored value."""


def redact(config: dict[str, Any], secret_fields: frozenset[str]) -> dict[str, Any]:
    """The config as members may see it: each write-only setting that is set shows as ``REDACTED``."""
    return {k: REDACTED if k in secret_fields and v is not None else v for k, v in config.items()}


def keep_secrets(
    config: dict[str, Any], stored: dict[str, Any], secret_fields: frozenset[str]
) -> dict[str, Any]:
    """A PUT's config with each write-only setting sent back as ``REDACTED`` replaced by the stored
    value (a moderator edits other settings without knowing the secret). One with nothing stored
    stays ``REDACTED``; the caller refuses it."""
    return {
        k: stored[k] if k in secret_fields and v == REDACTED and k in stored else v for k, v in config.items()
    }


LIFECYCLE = (
    ExtensionInstalled,
    ExtensionActivated,
    ExtensionConfigChanged,
    ExtensionDeactivated,
    ExtensionUninstalled,
    ExtensionDisabled,
)
"""An extension's own life-cycle events: they reach it even when they leave it off or uninstalled."""


def routed_to(chat: Chat, data: EventData) -> tuple[str, ...]:
    """The extensions an event of this chat is for (``Metadata.extensions``, which their rules
    match): the enabled ones, plus the subject of a life-cycle event, so its install hooks still run.
    A member's action on an extension's message goes to that extension alone."""
    ids = {k for k, install in chat.extensions.items() if install.enabled}
    if isinstance(data, InteractionSubmitted):
        return (data.extension_id,) if data.extension_id in ids else ()
    if isinstance(data, LIFECYCLE):
        ids.add(data.extension_id)
    return tuple(sorted(ids))


def _require_moderator(chat: Chat, user_id: str) -> None:
    if not chat.is_moderator(user_id):
        raise ForbiddenError("only the chat's owner or moderators may manage its extensions")


def _with(chat: Chat, install: Install | None, extension_id: str) -> Chat:
    installs = dict(chat.extensions)
    if install is None:
        installs.pop(extension_id, None)
    else:
        installs[extension_id] = install
    return chat.model_copy(update={"extensions": installs})


def put_install(
    chat: Chat,
    *,
    user_id: str | None,
    extension_id: str,
    version: str,
    enabled: bool,
    config: dict[str, Any],
    now: datetime,
    secret_fields: frozenset[str] = frozenset(),
    backfill: bool = False,
    shadow: bool = False,
    shadow_config: dict[str, Any] | None = None,
) -> Outcome:
    """Install, reconfigure, enable or disable (``_put_install``), and put it in shadow mode or out of
    it, with or without a ``shadow_config`` beside the live one (ExtensionShadowChanged)."""
    outcome = _put_install(
        chat,
        user_id=user_id,
        extension_id=extension_id,
        version=version,
        enabled=enabled,
        config=config,
        now=now,
        secret_fields=secret_fields,
        backfill=backfill,
    )
    install = outcome.chat.extensions[extension_id]
    if (install.shadow, install.shadow_config) == (shadow, shadow_config):
        return outcome
    total = sum(
        json_bytes(i.config) + json_bytes(i.shadow_config or {}) for i in outcome.chat.extensions.values()
    )
    if total - json_bytes(install.shadow_config or {}) + json_bytes(shadow_config or {}) > MAX_CONFIG_BYTES:
        raise InvalidConfigError(
            f"with this shadow_config the chat's configs would take over {MAX_CONFIG_BYTES} bytes",
            fields=[
                {"field": "shadow_config", "problem": f"over the chat's {MAX_CONFIG_BYTES} bytes of configs"}
            ],
        )
    changed = install.model_copy(update={"shadow": shadow, "shadow_config": shadow_config})
    announced = ExtensionShadowChanged(
        extension_id=extension_id,
        shadow=shadow,
        shadow_config=None if shadow_config is None else redact(shadow_config, secret_fields),
    )
    return Outcome(chat=_with(outcome.chat, changed, extension_id), events=(*outcome.events, announced))


def _put_install(
    chat: Chat,
    *,
    user_id: str | None,
    extension_id: str,
    version: str,
    enabled: bool,
    config: dict[str, Any],
    now: datetime,
    secret_fields: frozenset[str] = frozenset(),
    backfill: bool = False,
) -> Outcome:
    """Install, reconfigure, enable or disable; only what changed is announced. ``user_id`` None is
    the platform itself (default installs on a new chat). Enabling also closes an open circuit, and,
    with ``backfill`` (the manifest asks for history), asks for the chat's past events.
    The announcements (kept in the chat's log, which members read) show ``secret_fields`` redacted."""
    if user_id is not None:
        _require_moderator(chat, user_id)
    if chat.status == "completed":
        raise ChatCompletedError("the chat is completed and accepts no changes")
    others = sum(json_bytes(i.config) for k, i in chat.extensions.items() if k != extension_id)
    if others + json_bytes(config) > MAX_CONFIG_BYTES:
        raise InvalidConfigError(
            f"this config takes {json_bytes(config)} bytes as JSON, the chat's other installs {others}: "
            f"a chat holds at most {MAX_CONFIG_BYTES}",
            fields=[{"field": "config", "problem": f"over the chat's {MAX_CONFIG_BYTES} bytes of configs"}],
        )
    current = chat.extensions.get(extension_id)
    if current is None:
        outcome = _first_install(chat, user_id, extension_id, version, enabled, config, now, secret_fields)
        return _with_backfill(outcome, chat, extension_id, now) if enabled and backfill else outcome
    install = current.model_copy(update={"version": version})
    events: list[EventData] = []
    if config != current.config:
        install = install.model_copy(update={"config": config})
        events.append(ExtensionConfigChanged(extension_id=extension_id, config=redact(config, secret_fields)))
    if enabled and not current.enabled:
        install = install.model_copy(
            update={"enabled": True, "disabled_reason": None, "consecutive_failures": 0}
        )
        events.append(ExtensionActivated(extension_id=extension_id))
    elif not enabled and current.enabled:
        install = install.model_copy(update={"enabled": False, "disabled_reason": "disabled"})
        events.append(ExtensionDeactivated(extension_id=extension_id, reason="disabled"))
    if install == current:
        return Outcome(chat=chat)
    outcome = Outcome(chat=_with(chat, install, extension_id), events=tuple(events))
    return (
        _with_backfill(outcome, chat, extension_id, now)
        if backfill and enabled and not current.enabled
        else outcome
    )


def _first_install(
    chat: Chat,
    user_id: str | None,
    extension_id: str,
    version: str,
    enabled: bool,
    config: dict[str, Any],
    now: datetime,
    secret_fields: frozenset[str],
) -> Outcome:
    """A new install, bounded: every event carries the chat's enabled ids for routing."""
    if len(chat.extensions) >= MAX_INSTALLS:
        raise InvalidRequestError(
            f"a chat holds at most {MAX_INSTALLS} extensions; uninstall one first",
            field="extension_id",
        )
    install = Install(
        extension_id=extension_id,
        version=version,
        enabled=enabled,
        config=config,
        installed_by=user_id or "parley",
        installed_at=now,
        disabled_reason=None if enabled else "disabled",
        active_since=chat.last_event_sequence,
    )
    events: list[EventData] = [
        ExtensionInstalled(
            extension_id=extension_id,
            extension_version=version,
            config=redact(config, secret_fields),
            enabled=enabled,
            installed_by=install.installed_by,
            active_since=install.active_since,
        )
    ]
    if enabled:
        events.append(ExtensionActivated(extension_id=extension_id))
    return Outcome(chat=_with(chat, install, extension_id), events=tuple(events))


def _with_backfill(outcome: Outcome, before: Chat, extension_id: str, now: datetime) -> Outcome:
    """The enabling outcome with a backfill asked for, when the chat has a past: its ExtensionActivated
    names the last sequence before it, and the install remembers it (the SDK holds live events back)."""
    through = before.last_event_sequence
    if through < 1:
        return outcome
    install = outcome.chat.extensions[extension_id].model_copy(
        update={"backfill_through": through, "backfill_requested_at": now}
    )
    events = tuple(
        ExtensionActivated(extension_id=extension_id, backfill_through=through)
        if isinstance(e, ExtensionActivated)
        else e
        for e in outcome.events
    )
    return Outcome(chat=_with(outcome.chat, install, extension_id), events=events)


def uninstall(chat: Chat, *, user_id: str, extension_id: str) -> Outcome:
    _require_moderator(chat, user_id)
    if extension_id not in chat.extensions:
        return Outcome(chat=chat)
    return Outcome(
        chat=_with(chat, None, extension_id), events=(ExtensionUninstalled(extension_id=extension_id),)
    )


def record_failure(chat: Chat, *, extension_id: str, threshold: int, error: str) -> Outcome:
    """One more consecutive failure; at ``threshold`` the circuit opens and the extension is off for
    this chat (ExtensionDisabled, pushed to moderators) until a moderator enables it again."""
    install = chat.enabled_extension(extension_id)
    if install is None:
        return Outcome(chat=chat)
    failures = install.consecutive_failures + 1
    if failures < threshold:
        return Outcome(
            chat=_with(chat, install.model_copy(update={"consecutive_failures": failures}), extension_id)
        )
    opened = install.model_copy(
        update={"consecutive_failures": failures, "enabled": False, "disabled_reason": CIRCUIT_OPEN}
    )
    disabled = ExtensionDisabled(
        extension_id=extension_id,
        reason=f"{failures} consecutive failures (last: {error[:200]}); a moderator can enable it again",
        consecutive_failures=failures,
    )
    return Outcome(chat=_with(chat, opened, extension_id), events=(disabled,))


def record_recovery(chat: Chat, *, extension_id: str) -> Outcome:
    install = chat.extensions.get(extension_id)
    if install is None or install.consecutive_failures == 0 or not install.enabled:
        return Outcome(chat=chat)
    return Outcome(chat=_with(chat, install.model_copy(update={"consecutive_failures": 0}), extension_id))


def set_ai_context(chat: Chat, *, extension_id: str, text: str) -> Outcome:
    install = chat.enabled_extension(extension_id)
    if install is None:
        return Outcome(chat=chat)
    text = text[:MAX_AI_CONTEXT]
    while json_bytes(text) > MAX_AI_CONTEXT_BYTES:  # escapes make a character up to 6 bytes
        text = text[: len(text) * MAX_AI_CONTEXT_BYTES // json_bytes(text) - 1]
    if install.ai_context == text:
        return Outcome(chat=chat)
    return Outcome(
        chat=_with(chat, install.model_copy(update={"ai_context": text}), extension_id),
        events=(AIContextContributed(extension_id=extension_id, text=text),),
    )


def record_shadow_output(chat: Chat, envelope: Envelope[Any]) -> Outcome:
    """What a shadow install asked for, recorded for moderators instead of applied."""
    data = envelope.data
    install = chat.extensions.get(data.extension_id)
    if install is None or not install.shadow:
        return Outcome(chat=chat)
    if envelope.event_type == "ExtensionEphemeralRequested":
        # an ephemeral message is never stored anywhere, not even for moderators: only whom it was
        # for and how long it was
        output = {
            "request_id": data.request_id,
            "participant_id": data.participant_id,
            "text_length": len(data.text),
        }
    else:
        output = data.model_dump(mode="json", exclude={"extension_id"})
    shadowed = ExtensionShadowOutput(
        extension_id=data.extension_id, output_type=envelope.event_type, output=output
    )
    # what a whisper caused is for the whisper's people only, as the live output would have been
    return Outcome(chat=chat, events=(shadowed,), audience=envelope.metadata.audience)


def reject_event(chat: Chat, *, extension_id: str, event_type: str, event_id: str, reason: str) -> Outcome:
    return Outcome(
        chat=chat,
        events=(
            ExtensionEventRejected(
                extension_id=extension_id,
                rejected_event_type=event_type,
                rejected_event_id=event_id,
                reason=reason,
            ),
        ),
    )


def bot_quota(chat: Chat, extension_id: str, now: datetime) -> Chat:
    """Count one more bot message in the current calendar minute, or refuse it: a runaway extension
    floods neither the chat nor, with others, its members' screens. A fixed window keeps the chat
    item's size bounded by the number of extensions, whatever their rate."""
    minute = int(now.timestamp()) // 60
    counts = dict(chat.bot_posts) if chat.bot_minute == minute else {}
    retry_after = 60 - int(now.timestamp()) % 60
    own, limit = counts.get(extension_id, 0), chat.settings.extension_messages_per_minute
    if own >= limit:
        raise RateLimitedError(
            f"extension {extension_id} may post at most {limit} messages a minute here",
            retry_after=retry_after,
        )
    total = chat.settings.extension_messages_per_minute_total
    if sum(counts.values()) >= total:
        raise RateLimitedError(
            f"extensions may post at most {total} messages a minute here together", retry_after=retry_after
        )
    counts[extension_id] = own + 1
    return chat.model_copy(update={"bot_minute": minute, "bot_posts": counts})


def post_extension_message(
    chat: Chat,
    *,
    extension_id: str,
    name: str,
    text: str,
    request_id: str,
    message_id: str,
    now: datetime,
    blocks: Sequence[Block] | None = None,
) -> Outcome:
    """A message from an extension's bot: outside the turn order and the members' rate limits, never
    asking AI participants; bounded per extension and for all bots together (``bot_quota``). With
    ``blocks`` (checked here again: the request came over the bus) people can act on it."""
    if chat.status == "completed":
        raise ChatCompletedError("the chat is completed and accepts no changes")
    chat = bot_quota(chat, extension_id, now)
    if not text.strip():
        raise InvalidRequestError("text must not be empty or only whitespace", field="text")
    limit = min(MAX_MESSAGE_LENGTH, chat.settings.max_message_length)
    if len(text) > limit:
        raise InvalidRequestError(
            f"text is {len(text)} characters; this chat accepts at most {limit}", field="text"
        )
    if blocks:
        check_bounds(blocks)
    sequence = chat.last_message_sequence + 1
    message = MessageView(
        message_id=message_id,
        chat_id=chat.chat_id,
        sequence=sequence,
        sender_id=f"ext:{extension_id}",
        sender_name=name,
        sender_kind="extension",
        text=text,
        client_message_id=request_id,
        created_at=now,
        blocks=tuple(blocks) if blocks else None,
        blocks_version=BLOCKS_VERSION if blocks else None,
    )
    chat = chat.model_copy(update={"last_message_sequence": sequence})
    stored = MessageStored(message=message, turn_mode=chat.turn_mode, turn_number=chat.turn.turn_number)
    return Outcome(chat=chat, events=(stored,), message=message)
