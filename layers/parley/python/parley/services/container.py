"""The composition root: builds each service once per process (cold start), from settings."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from parley.adapters import tables
from parley.adapters.connections import ConnectionRepository
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.extensions import ExtensionState, Registry
from parley.adapters.websocket import ManagementApiPusher
from parley.ai.providers import ModelProvider, build_provider
from parley.ai.responder import AIResponder
from parley.domain.model import Chat, Participant
from parley.extensions.hooks import HookRunner, InProcessHookInvoker, LambdaHookInvoker
from parley.realtime.fanout import Broadcaster
from parley.realtime.service import RealtimeService
from parley.services.chats import ChatService, ExtensionPlatform
from parley.services.outbox import Outbox
from parley.settings import settings

if TYPE_CHECKING:
    # only the extension gateway and extension functions build these: core Lambdas skip the imports
    from parley.extensions.sdk import Runtime
    from parley.services.analytics import AnalyticsService
    from parley.services.extensions import ExtensionService


@cache
def outbox() -> Outbox:
    config = settings()
    tables.bind(config)
    repository = ChatRepository(config.region, config.client_message_ttl_seconds)
    return Outbox(repository, EventBridgePublisher(config.bus_name, max_attempts=config.publish_max_attempts))


@cache
def registry() -> Registry:
    outbox()  # binds the tables
    return Registry()


@cache
def hook_runner() -> HookRunner:
    config = settings()
    invoker = (
        InProcessHookInvoker() if config.hook_invoker == "inprocess" else LambdaHookInvoker(config.region)
    )
    return HookRunner(invoker, budget_ms=config.hook_budget_ms)


@cache
def chat_service() -> ChatService:
    box = outbox()
    return ChatService(
        box.repository, box, extensions=ExtensionPlatform(registry=registry().all, hooks=hook_runner())
    )


@cache
def extension_service() -> ExtensionService:
    from parley.services.extensions import ExtensionService

    return ExtensionService(
        chat_service(), registry(), failure_threshold=settings().extension_failure_threshold
    )


@cache
def extension_runtime() -> Runtime:
    """The SDK's ports in a deployed extension: it reads the chat, never writes core tables."""
    from parley.extensions.sdk import Runtime

    box = outbox()
    repository = box.repository

    def load_chat(chat_id: str) -> Chat | None:
        loaded = repository.load(chat_id)
        return loaded.chat if loaded else None

    return Runtime(
        load_chat=load_chat,
        registry=registry().all,
        publish=box.publisher.publish,
        state=ExtensionState,
        handler_timeout_seconds=settings().extension_handler_timeout_seconds,
    )


@cache
def analytics_service() -> AnalyticsService:
    from parley.services.analytics import AnalyticsService  # the api's alone: other Lambdas skip it

    outbox()  # binds the tables
    return AnalyticsService(chat_service(), ExtensionState)


@cache
def pusher() -> ManagementApiPusher:
    return ManagementApiPusher(settings().websocket_management_url)


@cache
def realtime_service() -> RealtimeService:
    config = settings()
    box = outbox()
    return RealtimeService(
        ConnectionRepository(),
        box.repository,
        chat_service(),
        box,
        pusher(),
        websocket_url=config.websocket_url,
        ticket_ttl_seconds=config.ticket_ttl_seconds,
        typing_throttle_seconds=config.typing_throttle_seconds,
    )


@cache
def broadcaster() -> Broadcaster:
    outbox()  # binds the tables
    return Broadcaster(
        ConnectionRepository(), outbox().repository, pusher(), concurrency=settings().push_concurrency
    )


@cache
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


@cache
def ai_responder() -> AIResponder:
    config = settings()
    box = outbox()
    return AIResponder(
        chat_service(),
        box.repository,
        box,
        broadcaster(),
        provider_for,
        default_model=config.ai_default_model,
        timeout_seconds=config.ai_timeout_seconds,
        token_budget=config.ai_context_token_budget,
        max_output_tokens=config.ai_max_output_tokens,
        cancel_check_seconds=config.ai_cancel_check_seconds,
    )


def reset() -> None:
    """Forget built services and settings (tests change the environment between cases)."""
    for factory in (
        settings,
        outbox,
        registry,
        hook_runner,
        chat_service,
        extension_service,
        extension_runtime,
        analytics_service,
        pusher,
        realtime_service,
        broadcaster,
        provider,
        ai_responder,
    ):
        factory.cache_clear()
