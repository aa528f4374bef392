"""The composition root: builds each service once per process (cold start), from settings."""

from __future__ import annotations

from functools import cache

from parley.adapters import tables
from parley.adapters.connections import ConnectionRepository
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import EventBridgePublisher
from parley.adapters.websocket import ManagementApiPusher
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


def reset() -> None:
    """Forget built services and settings (tests change the environment between cases)."""
    for factory in (settings, outbox, chat_service, pusher, realtime_service, broadcaster):
        factory.cache_clear()
