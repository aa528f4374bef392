"""Extension use cases: the registry as the API shows it, per-chat installs, and the gateway that
applies (or refuses) what extensions send to the core."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from parley.adapters.dynamodb import Claim, DuplicateClientMessageError, request_key
from parley.adapters.extensions import Registry
from parley.catalog import Actor, Envelope
from parley.domain import commands, slash
from parley.domain import extensions as installs
from parley.domain.model import Chat, Install, Outcome
from parley.errors import (
    ChatCompletedError,
    ChatNotFoundError,
    ExtensionNotFoundError,
    ForbiddenError,
    InvalidConfigError,
    InvalidRequestError,
    MessageNotFoundError,
    MessageRejectedError,
    RateLimitedError,
    StaleUpdateError,
)
from parley.extensions.manifest import ExtensionDocument
from parley.extensions.policy import SHADOW, refusal, sender_id
from parley.observability import logger, metrics
from parley.services.chats import ChatService, Identity
from parley.services.ephemeral import EphemeralService

GATEWAY = Actor(id="extension_gateway", kind="system", name="Parley")
WORKFLOWS = "workflows"
"""The shipped extension whose config is a chat's workflows (``parley.domain.workflows``)."""
REQUEST_KEY_TTL = timedelta(days=15)
"""An applied request's key outlives any redelivery of it: dead-letter queues keep 14 days for a redrive."""


def config_problems(document: ExtensionDocument, config: dict[str, Any]) -> list[dict[str, str]]:
    """Every way ``config`` breaks the extension's JSON Schema, one entry per field."""
    if document.id == WORKFLOWS:
        # its model says more than its schema can (each trigger's variables), and names nested fields
        from parley.domain.workflows import problems as workflow_problems  # install route only

        return workflow_problems(config)
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # install route only

    validator = Draft202012Validator(document.config_schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in ("config", *error.absolute_path))
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            problems += [
                {"field": f"{path}.{name}", "problem": "not a setting of this extension"} for name in extra
            ]
            continue
        if error.validator == "required":
            missing = [n for n in error.validator_value if n not in error.instance]
            problems += [{"field": f"{path}.{name}", "problem": "required"} for name in missing]
            continue
        problems.append({"field": path, "problem": error.message})
    return problems


def write_only(document: ExtensionDocument | None) -> frozenset[str]:
    """The config's secrets: top-level settings its schema marks ``writeOnly`` (pydantic:
    ``SecretStr``, or ``Field(json_schema_extra={"writeOnly": True})``). Never shown to members."""
    properties = (document.config_schema if document else {}).get("properties", {})
    return frozenset(name for name, p in properties.items() if isinstance(p, dict) and p.get("writeOnly"))


@dataclass(frozen=True)
class InstallResult:
    install: Install
    created: bool


class ExtensionService:
    def __init__(
        self,
        chats: ChatService,
        registry: Registry,
        *,
        failure_threshold: int,
        ephemeral: Callable[[], EphemeralService] | None = None,
    ) -> None:
        self._chats = chats
        self._registry = registry
        self._threshold = failure_threshold
        self._ephemeral = ephemeral  # a factory: only the gateway pushes, the api never builds it

    # -- registry ----------------------------------------------------------------------------------

    def registered(self) -> list[ExtensionDocument]:
        return sorted(self._registry.all().values(), key=lambda d: d.id)

    def document(self, extension_id: str) -> ExtensionDocument:
        document = self._registry.get(extension_id)
        if document is None:
            raise ExtensionNotFoundError(
                f"no extension {extension_id!r} is registered", extension_id=extension_id
            )
        return document

    # -- installs ----------------------------------------------------------------------------------

    def installs(self, who: Identity, chat_id: str) -> list[Install]:
        """A chat's installs as members see them (secrets redacted)."""
        chat = self._chats.get_chat(who, chat_id)
        return [self._shown(chat.extensions[k]) for k in sorted(chat.extensions)]

    def install(self, who: Identity, chat_id: str, extension_id: str) -> Install:
        """One install as members see it (secrets redacted)."""
        chat = self._chats.get_chat(who, chat_id)
        install = chat.extensions.get(extension_id)
        if install is None:
            raise ExtensionNotFoundError(
                f"extension {extension_id!r} is not installed on this chat", extension_id=extension_id
            )
        return self._shown(install)

    def _shown(self, install: Install) -> Install:
        secrets = write_only(self._registry.get(install.extension_id))
        shadow = install.shadow_config
        return install.model_copy(
            update={
                "config": installs.redact(install.config, secrets),
                "shadow_config": None if shadow is None else installs.redact(shadow, secrets),
            }
        )

    def put(
        self,
        who: Identity,
        chat_id: str,
        extension_id: str,
        *,
        enabled: bool,
        config: dict[str, Any],
        correlation_id: str | None = None,
        shadow: bool = False,
        shadow_config: dict[str, Any] | None = None,
    ) -> InstallResult:
        """Install or change one; ``shadow`` runs it without applying what it does, ``shadow_config``
        has its hooks also rule with a second config beside the live one (both recorded only)."""
        document = self.document(extension_id)
        secrets = write_only(document)
        kept = any(config.get(name) == installs.REDACTED for name in secrets)
        if not kept:
            self._check(document, config, secrets)  # refused before the chat is even read
        existed: list[bool] = []

        def decide(chat: Chat, now: datetime) -> Outcome:
            current = chat.extensions.get(extension_id)
            existed[:] = [current is not None]
            merged = installs.keep_secrets(config, current.config if current else {}, secrets)
            if kept:
                self._check(document, merged, secrets)
            if enabled and not shadow and document.commands:  # switched live: checked then
                slash.conflict(chat, document, self._registry.all())
            shadowed = None
            if shadow_config is not None:
                stored = (current.shadow_config or current.config) if current else {}
                shadowed = installs.keep_secrets(shadow_config, stored, secrets)
                self._check(document, shadowed, secrets, field="shadow_config")
            return installs.put_install(
                chat,
                user_id=who.user_id,
                extension_id=extension_id,
                version=document.version,
                enabled=enabled,
                config=merged,
                now=now,
                secret_fields=secrets,
                backfill=document.backfill,
                shadow=shadow,
                shadow_config=shadowed,
            )

        outcome = self._chats.execute_as(who, chat_id, decide, correlation_id=correlation_id)
        return InstallResult(self._shown(outcome.chat.extensions[extension_id]), created=not existed[0])

    @staticmethod
    def _check(
        document: ExtensionDocument, config: dict[str, Any], secrets: frozenset[str], *, field: str = "config"
    ) -> None:
        problems = [
            {
                "field": f"{field}.{name}",
                "problem": f"{installs.REDACTED} keeps the stored value; none is stored",
            }
            for name in sorted(secrets)
            if config.get(name) == installs.REDACTED
        ] or [
            {**p, "field": field + p["field"].removeprefix("config")}
            for p in config_problems(document, config)
        ]
        if problems:
            summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            raise InvalidConfigError(f"invalid config for {document.id}: {summary}", fields=problems)

    def uninstall(
        self, who: Identity, chat_id: str, extension_id: str, *, correlation_id: str | None = None
    ) -> None:
        self._chats.execute_as(
            who,
            chat_id,
            lambda chat, _: installs.uninstall(chat, user_id=who.user_id, extension_id=extension_id),
            correlation_id=correlation_id,
        )

    # -- the gateway: what extensions send --------------------------------------------------------

    def accept(self, envelope: Envelope[Any], source: str | None) -> str | None:
        """Apply one event an extension sent, or refuse it; returns the refusal.

        A refusal is final (acked, never retried into the dead-letter queue). It is logged and
        counted always, and recorded as ExtensionEventRejected only where the sender is enabled."""
        chat_id = envelope.metadata.chat_id
        extension_id = sender_id(envelope, source)
        chat = self._chats.load(chat_id)
        document = self._registry.get(envelope.metadata.actor.id)
        reason = refusal(envelope, source, document, chat)
        if reason == SHADOW:
            self._trusted(envelope, lambda c, _: installs.record_shadow_output(c, envelope))
            return reason
        if reason is None:
            assert document is not None
            assert chat is not None
            try:
                # None when applied, else a refusal the chat service or the rate limit already recorded
                return self._apply(envelope, document, chat)
            except (ChatCompletedError, InvalidRequestError) as exc:
                # it can never succeed: a retry would only end in the dead-letter queue
                reason = f"{exc.code}: {exc.message}"
        logger.warning("refused an extension's event", extra={"reason": reason, "extension_id": extension_id})
        metrics.add_metric(name="ExtensionEventRefused", unit=MetricUnit.Count, value=1)
        install = chat.extensions.get(extension_id) if chat is not None else None
        if install is not None and install.enabled:
            # recorded in the log only for chats whose members enabled the sender: anyone else's
            # bogus events must not cost the chat a write each (the log line and metric stay)
            self._refused(envelope, extension_id, reason)
        return reason

    def _apply(self, envelope: Envelope[Any], document: ExtensionDocument, chat: Chat) -> str | None:
        chat_id = envelope.metadata.chat_id
        data = envelope.data
        match envelope.event_type:
            case "ExtensionMessageRequested":
                return self._post_message(envelope, document)
            case "ExtensionEphemeralRequested":
                return self._send_ephemeral(envelope, document, chat)
            case "ExtensionMessageUpdateRequested":
                return self._update_message(envelope, document)
            case "ExtensionFloorRequested" | "ExtensionSettingsRequested":
                self._change_chat(envelope, document)
            case "AIContextContributed":
                self._trusted(
                    envelope,
                    lambda c, _: installs.set_ai_context(c, extension_id=document.id, text=data.text),
                )
            case "ExtensionFailed":
                # a report delivered twice counts once toward the circuit (keyed on its event id)
                self._trusted(
                    envelope,
                    lambda c, _: installs.record_failure(
                        c, extension_id=document.id, threshold=self._threshold, error=data.error
                    ),
                    once=request_key(chat_id, document.id, "failure", envelope.metadata.event_id),
                )
            case "ExtensionRecovered":
                self._trusted(envelope, lambda c, _: installs.record_recovery(c, extension_id=document.id))
            case "WorkflowRunReported":
                from parley.domain.workflows import record_run  # the gateway's only: not at cold start

                run = f"{data.workflow_id}#{data.trigger_event_id}"  # the run's identity, as reported
                once = request_key(chat_id, document.id, "run", run)
                self._trusted(envelope, lambda c, _: record_run(c, data), once=once)
            case _:
                pass  # an accepted ExtensionEvent: its subscribers receive it from the bus directly
        return None

    def _post_message(self, envelope: Envelope[Any], document: ExtensionDocument) -> str | None:
        data = envelope.data
        try:
            self._chats.post_extension_message(
                envelope.metadata.chat_id,
                document=document,
                request_id=data.request_id,
                text=data.text,
                cause=envelope,
                blocks=data.blocks,
            )
        except MessageRejectedError as exc:  # recorded (MessageModerated) by the chat service
            logger.info("a moderation hook rejected a bot message", extra={"extension_id": document.id})
            return exc.code
        except RateLimitedError:  # refused and recorded, never retried
            logger.warning("an extension is over its message rate", extra={"extension_id": document.id})
            self._refused(envelope, document.id, RateLimitedError.code)
            return RateLimitedError.code
        return None

    def _change_chat(self, envelope: Envelope[Any], document: ExtensionDocument) -> None:
        """Give the floor or change settings by the rules a moderator's request follows, as the
        extension's bot, once per request id; a chat that cannot take it raises (``accept`` records the
        refusal: it can never succeed)."""
        data = envelope.data
        if envelope.event_type == "ExtensionFloorRequested":
            kind, change = "floor", partial(commands.give_floor, participant_id=data.participant_id)
        else:
            kind = "settings"
            change = partial(commands.extension_settings, extension_id=document.id, changes=data.changes)
        bot = Actor(id=f"ext:{document.id}", kind="system", name=document.name)
        once = request_key(envelope.metadata.chat_id, document.id, kind, data.request_id)
        self._trusted(envelope, lambda c, now: change(c, now=now), once=once, actor=bot)

    def _update_message(self, envelope: Envelope[Any], document: ExtensionDocument) -> str | None:
        """Apply an extension's update of its own message (MessageUpdated); another's message, or one
        that is not there, is refused and recorded like a bot message the chat can never take."""
        data = envelope.data
        try:
            self._chats.interactions.update(
                envelope.metadata.chat_id,
                document=document,
                request_id=data.request_id,
                message_id=data.message_id,
                text=data.text,
                blocks=data.blocks,
                cause=envelope,
                revision=data.revision,
            )
        except MessageRejectedError as exc:  # recorded (MessageModerated) by the service
            return exc.code
        except StaleUpdateError as exc:  # a newer state is shown already: dropped, never retried
            logger.info("dropped a stale update", extra={"extension_id": document.id, **exc.details})
            metrics.add_metric(name="ExtensionUpdateStale", unit=MetricUnit.Count, value=1)
            return exc.code
        except (ForbiddenError, MessageNotFoundError) as exc:
            reason = exc.message if exc.message.startswith("not_owner") else f"{exc.code}: {exc.message}"
            logger.warning("refused an extension's update", extra={"extension_id": document.id})
            metrics.add_metric(name="ExtensionEventRefused", unit=MetricUnit.Count, value=1)
            self._refused(envelope, document.id, reason)
            return reason
        return None

    def _send_ephemeral(self, envelope: Envelope[Any], document: ExtensionDocument, chat: Chat) -> str | None:
        """Push it to its one member's sockets; nothing is stored but a refusal (as a bot message's)."""
        if self._ephemeral is None:
            raise RuntimeError(
                "this ExtensionService was built without ephemeral messages (not the gateway's)"
            )
        try:
            self._ephemeral().from_extension(chat, envelope, document)
        except RateLimitedError:
            logger.warning("an extension is over its ephemeral rate", extra={"extension_id": document.id})
            self._refused(envelope, document.id, RateLimitedError.code)
            return RateLimitedError.code
        return None

    def _refused(self, envelope: Envelope[Any], extension_id: str, reason: str) -> None:
        self._trusted(
            envelope,
            lambda c, _: installs.reject_event(
                c,
                extension_id=extension_id,
                event_type=envelope.event_type,
                event_id=envelope.metadata.event_id,
                reason=reason,
            ),
        )

    def _trusted(
        self,
        cause: Envelope[Any],
        decide: Callable[[Chat, datetime], Outcome],
        *,
        once: str | None = None,
        actor: Actor = GATEWAY,
    ) -> None:
        """Commit the gateway's decision; with ``once`` (a request's key) a redelivery commits nothing."""
        claim = None if once is None else Claim(once, {"event_id": cause.metadata.event_id}, REQUEST_KEY_TTL)
        try:
            self._chats.execute(
                cause.metadata.chat_id,
                decide,
                actor=actor,
                correlation_id=cause.metadata.correlation_id,
                causation_id=cause.metadata.event_id,
                claim=claim,
            )
        except DuplicateClientMessageError:
            logger.info("an applied request was delivered again", extra={"event_id": cause.metadata.event_id})
        except ChatNotFoundError:
            logger.warning("extension event for an unknown chat", extra={"chat_id": cause.metadata.chat_id})
