"""The composition root: builds each collaborator once per process (cold start), from settings.

Every factory is a ``@component``: cached, and registered so that ``reset()`` forgets it without a
hand-kept list. Collaborators (the chat repository, the publisher, the connections) are components
of their own, so no caller reaches through another object to get one. Handlers, the HTTP routes and
the local stack import this module; nothing in the layer below it does (``make lint`` checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from parley.settings import Settings, settings

if TYPE_CHECKING:
    # each factory imports what it builds, so a function loads only its own collaborators
    from parley.adapters.connections import ConnectionRepository
    from parley.adapters.dynamodb import ChatRepository
    from parley.adapters.extensions import Registry
    from parley.adapters.websocket import ManagementApiPusher
    from parley.ai.providers import ModelProvider
    from parley.ai.responder import AIResponder
    from parley.catalog import Envelope
    from parley.domain.model import Participant
    from parley.extensions.hooks import HookInvoker, HookRunner
    from parley.extensions.sdk import Runtime
    from parley.ports import EventPublisher
    from parley.realtime.fanout import Broadcaster
    from parley.realtime.service import RealtimeService
    from parley.services.analytics import AnalyticsService
    from parley.services.backfill import BackfillService
    from parley.services.chat_usage import ChatUsageService
    from parley.services.chats import ChatService
    from parley.services.ephemeral import EphemeralService
    from parley.services.extensions import ExtensionService
    from parley.services.inbox import InboxService
    from parley.services.inbox_projection import InboxProjection
    from parley.services.outbox import Outbox, Relay, WantedByRules
    from parley.services.rebuild import RebuildService
    from parley.services.slash import SlashCommands
    from parley.services.usage import UsageService

P = ParamSpec("P")
T = TypeVar("T")

_CACHE_CLEARS: list[Callable[[], None]] = [settings.cache_clear]
"""What ``reset()`` clears: the settings, then every ``@component`` in the order they were declared."""


def component(factory: Callable[P, T]) -> Callable[P, T]:
    """Build once per process (per argument), and be forgotten by ``reset()``."""
    cached = cache(factory)
    _CACHE_CLEARS.append(cached.cache_clear)
    return cast(Callable[P, T], cached)


def reset() -> None:
    """Forget built collaborators and settings (tests change the environment between cases)."""
    for clear in _CACHE_CLEARS:
        clear()


@component
def bound_settings() -> Settings:
    """The settings, with the PynamoDB table models pointed at their tables and region.

    PynamoDB models are module-level, so binding them is process-wide: every factory that builds a
    repository takes its settings from here, which makes binding part of its inputs.
    """
    from parley.adapters import tables

    config = settings()
    tables.bind(config)
    return config


@component
def chat_repository() -> ChatRepository:
    from parley.adapters.dynamodb import ChatRepository

    config = bound_settings()
    return ChatRepository(config.region, config.client_message_ttl_seconds)


@component
def connections() -> ConnectionRepository:
    from parley.adapters.connections import ConnectionRepository

    bound_settings()  # its records are PynamoDB models: bound before the first call
    return ConnectionRepository()


@component
def publisher() -> EventPublisher:
    from parley.adapters.eventbridge import EventBridgePublisher

    config = settings()
    return EventBridgePublisher(config.bus_name, max_attempts=config.publish_max_attempts)


@component
def outbox() -> Outbox:
    from parley.services.outbox import Outbox

    return Outbox(chat_repository(), publisher(), wanted=wanted_by_rules())


@component
def relay() -> Relay:
    """The relay's batch: the inbox projection, then the bus."""
    from parley.services.outbox import Relay

    return Relay(outbox(), inbox_projection().project)


@component
def wanted_by_rules() -> WantedByRules:
    """The bus's rules, read on the relay's first batch (other users of the outbox never read them)."""
    from parley.adapters.eventbridge import EventBridgeRules
    from parley.services.outbox import WantedByRules

    return WantedByRules(EventBridgeRules(settings().bus_name).patterns)


def announce(envelopes: Sequence[Envelope[Any]]) -> None:
    """Events about the platform itself (HandlerFailed): best effort, never chat history."""
    outbox().publish_unsequenced(envelopes)


@component
def registry() -> Registry:
    from parley.adapters.extensions import Registry

    bound_settings()  # its records are PynamoDB models: bound before the first call
    return Registry()


@component
def hook_invoker() -> HookInvoker:
    """How the core calls an extension's function synchronously: its hooks, a backfill's pages."""
    from parley.extensions.hooks import InProcessHookInvoker

    config = settings()
    if config.hook_invoker == "inprocess":
        return InProcessHookInvoker()
    from parley.adapters.lambda_invoke import LambdaHookInvoker

    return LambdaHookInvoker(config.region)


@component
def hook_runner() -> HookRunner:
    from parley.extensions.hooks import HookRunner

    return HookRunner(hook_invoker(), budget_ms=settings().hook_budget_ms)


@component
def turn_deadlines() -> Callable[..., list[str]]:
    """The turn-deadline index alone (``due_turns(now=, limit=)``): the sweeper reads it before it
    builds the chat service, which it needs only when some turn is due."""
    from parley.adapters.turn_deadlines import due_turns

    bound_settings()
    return due_turns


@component
def chat_service() -> ChatService:
    from parley.services.chats import ChatService, ExtensionPlatform

    return ChatService(
        chat_repository(),
        outbox(),
        extensions=ExtensionPlatform(registry=registry().all, hooks=hook_runner()),
    )


@component
def slash_commands() -> SlashCommands:
    from parley.services.slash import SlashCommands

    return SlashCommands(chat_service(), registry().all, publisher())


@component
def extension_service() -> ExtensionService:
    from parley.services.extensions import ExtensionService

    return ExtensionService(
        chat_service(),
        registry(),
        failure_threshold=settings().extension_failure_threshold,
        ephemeral=ephemeral_service,
    )


@component
def ephemeral_service() -> EphemeralService:
    from parley.services.ephemeral import EphemeralService

    return EphemeralService(connections(), pusher)


@component
def extension_runtime() -> Runtime:
    """The SDK's ports in a deployed extension: its own context rows, never a core table."""
    from parley.adapters.contexts import load_context
    from parley.adapters.extensions import ExtensionState
    from parley.domain.model import Chat
    from parley.extensions.sdk import Runtime

    def chat_as_seen_by(extension_id: str, chat_id: str) -> Chat | None:
        context = load_context(extension_id, chat_id)
        return context.as_chat() if context else None

    return Runtime(
        load_chat=None,
        load_context=chat_as_seen_by,
        registry=registry().all,
        publish=publisher().publish,
        state=ExtensionState,
        handler_timeout_seconds=settings().extension_handler_timeout_seconds,
    )


@component
def analytics_service() -> AnalyticsService:
    from parley.adapters.extensions import ExtensionState
    from parley.services.analytics import AnalyticsService  # the api's alone: other Lambdas skip it

    return AnalyticsService(chat_service(), ExtensionState, chat_repository())


@component
def usage_service() -> UsageService:
    from parley.adapters.cloudwatch import UsageMetrics
    from parley.extensions.usage import USAGE_METRICS
    from parley.services.usage import UsageService  # the api's alone

    return UsageService(registry().all, UsageMetrics(USAGE_METRICS))


@component
def chat_usage_service() -> ChatUsageService:
    from parley.adapters.extensions import ExtensionState
    from parley.services.chat_usage import ChatUsageService  # the api's alone

    return ChatUsageService(registry().all, chat_repository(), ExtensionState)


@component
def pusher() -> ManagementApiPusher:
    from parley.adapters.websocket import ManagementApiPusher

    return ManagementApiPusher(settings().websocket_management_url)


@component
def realtime_service() -> RealtimeService:
    from parley.realtime.service import RealtimeService

    config = settings()
    return RealtimeService(
        connections(),
        chat_repository(),
        chat_service(),
        outbox(),
        pusher(),
        websocket_url=config.websocket_url,
        ticket_ttl_seconds=config.ticket_ttl_seconds,
        typing_throttle_seconds=config.typing_throttle_seconds,
        broadcaster=broadcaster(),
        commands=slash_commands(),
    )


@component
def broadcaster() -> Broadcaster:
    from parley.realtime.fanout import Broadcaster
    from parley.services.read_filters import ReadFilters

    return Broadcaster(
        connections(),
        chat_repository(),
        pusher(),
        concurrency=settings().push_concurrency,
        read_filters=ReadFilters(chat_repository(), registry().all, hook_runner),
    )


@component
def provider(name: str) -> ModelProvider:
    from parley.ai.providers import build_provider

    config = settings()
    return build_provider(
        name,
        region=config.region,
        local_chunk_delay_ms=config.local_ai_chunk_delay_ms,
        read_timeout_seconds=config.ai_timeout_seconds,
    )


def provider_for(participant: Participant) -> ModelProvider:
    """The settings' override if any, else the participant's own provider."""
    profile_provider = participant.ai.provider if participant.ai else "local"
    return provider(settings().ai_provider or profile_provider)


@component
def ai_responder() -> AIResponder:
    from parley.ai.responder import AIResponder

    config = settings()
    return AIResponder(
        chat_service(),
        chat_repository(),
        outbox(),
        broadcaster(),
        provider_for,
        default_model=config.ai_default_model,
        timeout_seconds=config.ai_timeout_seconds,
        token_budget=config.ai_context_token_budget,
        max_output_tokens=config.ai_max_output_tokens,
        cancel_check_seconds=config.ai_cancel_check_seconds,
    )


@component
def rebuild_service() -> RebuildService:
    from parley.services.rebuild import RebuildService  # operators' alone: no Lambda imports it

    return RebuildService(chat_repository())


@component
def inbox_projection() -> InboxProjection:
    from parley.adapters.inbox import InboxStore
    from parley.services.inbox_projection import InboxProjection  # the relay's

    bound_settings()  # its records are PynamoDB models: bound before the first call
    return InboxProjection(InboxStore())


@component
def inbox_service() -> InboxService:
    from parley.adapters.inbox import InboxStore
    from parley.services.inbox import InboxService  # the api's and the rebuild command's alone
    from parley.services.read_filters import ReadFilters

    bound_settings()  # its records are PynamoDB models: bound before the first call
    # the chat list's preview is read as the history is: through the chat's read filters
    filters = ReadFilters(chat_repository(), registry().all, hook_runner)
    return InboxService(InboxStore(), chat_repository(), connections(), pusher, read_filters=filters)


@component
def backfill_service() -> BackfillService:
    from parley.services.backfill import BackfillService  # the backfill route's alone

    return BackfillService(registry().all, chat_repository(), hook_invoker())
