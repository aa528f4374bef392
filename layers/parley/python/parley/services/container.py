"""The composition root: builds each service once per process (cold start), from settings."""

from __future__ import annotations

from functools import cache

from parley.adapters import tables
from parley.adapters.dynamodb import ChatRepository
from parley.adapters.eventbridge import EventBridgePublisher
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


def reset() -> None:
    """Forget built services and settings (tests change the environment between cases)."""
    settings.cache_clear()
    outbox.cache_clear()
    chat_service.cache_clear()
