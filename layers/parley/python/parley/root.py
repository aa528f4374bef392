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

from parley.adapters import tables
from parley.adapters.connections import ConnectionRepository
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.extensions import ExtensionState, Registry
from parley.adapters.lambda_invoke import LambdaHookInvoker
from parley.adapters.websocket import ManagementApiPusher
from parley.ai.providers import ModelProvider, build_provider
from parley.ai.responder import AIResponder
from parley.catalog import Envelope
from parley.domain.model import Chat, Participant
from parley.extensions.hooks import HookRunner, InProcessHookInvoker
from parley.ports import EventPublisher
from parley.realtime.fanout import Broadcaster
from parley.realtime.service import RealtimeService
from parley.services.chats import ChatService, ExtensionPlatform
from parley.services.outbox import Outbox
from parley.settings import Settings, settings

if TYPE_CHECKING:
    # only the extension gateway and extension functions build these: core Lambdas skip the imports
    from parley.extensions.sdk import Runtime
    from parley.services.analytics import AnalyticsService
    from parley.services.extensions import ExtensionService

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
    config = settings()
    tables.bind(config)
    return config


@component
def chat_repository() -> ChatRepository:
    config = bound_settings()
    return ChatRepository(config.region, config.client_message_ttl_seconds)


@component
def connections() -> ConnectionRepository:
    bound_settings()  # its records are PynamoDB models: bound before the first call
    return ConnectionRepository()


@component
def publisher() -> EventPublisher:
    config = settings()
    return EventBridgePublisher(config.bus_name, max_attempts=config.publish_max_attempts)


@component
def outbox() -> Outbox:
    return Outbox(chat_repository(), publisher())


def announce(envelopes: Sequence[Envelope[Any]]) -> None:
    """Events about the platform itself (HandlerFailed): best effort, never chat history."""
    outbox().publish_unsequenced(envelopes)


@component
def registry() -> Registry:
    bound_settings()  # its records are PynamoDB models: bound before the first call
    return Registry()


@component
def hook_runner() -> HookRunner:
    config = settings()
    invoker = (
        InProcessHookInvoker() if config.hook_invoker == "inprocess" else LambdaHookInvoker(config.region)
    )
    return HookRunner(invoker, budget_ms=config.hook_budget_ms)


@component
def chat_service() -> ChatService:
    return ChatService(
        chat_repository(),
        outbox(),
        extensions=ExtensionPlatform(registry=registry().all, hooks=hook_runner()),
    )


@component
def extension_service() -> ExtensionService:
    from parley.services.extensions import ExtensionService

    return ExtensionService(
        chat_service(), registry(), failure_threshold=settings().extension_failure_threshold
    )


@component
def extension_runtime() -> Runtime:
    """The SDK's ports in a deployed extension: it reads the chat, never writes core tables."""
    from parley.extensions.sdk import Runtime

    repository = chat_repository()

    def load_chat(chat_id: str) -> Chat | None:
        loaded = repository.load(chat_id)
        return loaded.chat if loaded else None

    return Runtime(
        load_chat=load_chat,
        registry=registry().all,
        publish=publisher().publish,
        state=ExtensionState,
        handler_timeout_seconds=settings().extension_handler_timeout_seconds,
    )


@component
def analytics_service() -> AnalyticsService:
    from parley.services.analytics import AnalyticsService  # the api's alone: other Lambdas skip it

    return AnalyticsService(chat_service(), ExtensionState)


@component
def pusher() -> ManagementApiPusher:
    return ManagementApiPusher(settings().websocket_management_url)


@component
def realtime_service() -> RealtimeService:
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
    )


@component
def broadcaster() -> Broadcaster:
    return Broadcaster(connections(), chat_repository(), pusher(), concurrency=settings().push_concurrency)


@component
def provider(name: str) -> ModelProvider:
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
