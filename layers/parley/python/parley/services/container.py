"""The composition root: builds each service once per process (cold start), from settings."""

from __future__ import annotations

from functools import cache

from parley.adapters import tables
from parley.adapters.connections import ConnectionRepository
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.websocket import ManagementApiPusher
from parley.ai.providers import ModelProvider, build_provider
from parley.ai.responder import AIResponder
from parley.domain.model import Participant
from parley.realtime.fanout import Broadcaster
from parley.realtime.service import RealtimeService
from parley.services.chats import ChatService
from parley.services.outbox import Outbox
from parley.settings import settings


@cache
def outbox() -> Outbox:
    config = settings()
    tables.bind(config)
    repository = ChatRepository(config.region, config.client_message_ttl_seconds)
    return Outbox(repository, EventBridgePublisher(config.bus_name, max_attempts=config.publish_max_attempts))


@cache
def chat_service() -> ChatService:
    box = outbox()
    return ChatService(box.repository, box)


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
        chat_service,
        pusher,
        realtime_service,
        broadcaster,
        provider,
        ai_responder,
    ):
        factory.cache_clear()
