"""``Client`` (blocking) and ``AsyncClient`` (asyncio): one method per HTTP route, typed results.

Both send through the same ``Session`` (retries, errors); the async client runs it in a worker thread,
so a slow call never blocks its event loop, and adds ``live()`` (WebSocket frames without gaps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import Any, Self, TypeVar

from parley_client import routes
from parley_client._http import RetryPolicy, Session, TokenSource, Transport, urllib_transport
from parley_client.live import Connect, Live, connect_websocket
from parley_client.models import (
    AcceptedCommand,
    AIParticipantIn,
    AnalyticsSummary,
    ChatAnalytics,
    ChatList,
    ChatListItem,
    ChatOut,
    CommandInfo,
    Envelope,
    EventData,
    EventPage,
    ExtensionChatsUsage,
    ExtensionChatUsage,
    ExtensionDocument,
    ExtensionUsage,
    Health,
    InstallOut,
    MessagePage,
    MessageView,
    PostedMessage,
    ReadOut,
    SubmittedAction,
    Ticket,
    envelope_of,
)
from parley_client.routes import TurnMode

T = TypeVar("T")
PAGE = 100


def _token_source(token: str | None, token_provider: Callable[[], str] | None) -> TokenSource:
    if token is not None and token_provider is not None:
        raise ValueError("give a token or a token_provider, not both")
    if token_provider is not None:
        provider = token_provider
        return lambda _refresh: provider()
    return lambda refresh: None if refresh else token


class Client:
    """Blocking client. ``token_provider`` is called for every request (it may cache and refresh);
    after a 401 it is asked once more, and the request is sent again if the token changed."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: Transport = urllib_transport,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = Session(
            self.base_url,
            _token_source(token, token_provider),
            transport=transport,
            retry=retry or RetryPolicy(),
            timeout=timeout,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def _run(self, call: routes.Call[T]) -> T:
        return call.read(self.session.call(call.request))

    def health(self) -> Health:
        return self._run(routes.health())

    def workflows_schema(self) -> dict[str, Any]:
        """The JSON Schema a chat's workflows (the `workflows` extension's config) are validated against."""
        return self._run(routes.workflows_schema())

    def chat_page(self, *, cursor: str | None = None, limit: int | None = None) -> ChatList:
        return self._run(routes.list_chats(cursor, limit))

    def chats(self) -> list[ChatListItem]:
        """Every chat of the caller, with its unread count and latest message, all pages."""
        items: list[ChatListItem] = []
        cursor: str | None = None
        while True:
            page = self.chat_page(cursor=cursor)
            items.extend(page.items)
            if not page.next:
                return items
            cursor = page.next

    def mark_read(self, chat_id: str, sequence: int) -> ReadOut:
        """Move the caller's read marker forward to ``sequence`` (never back)."""
        return self._run(routes.mark_read(chat_id, sequence))

    def create_chat(
        self,
        title: str,
        *,
        mode: TurnMode = "free",
        ai: Iterable[str | AIParticipantIn] = (),
        settings: Mapping[str, Any] | None = None,
    ) -> ChatOut:
        return self._run(routes.create_chat(title, mode, ai, settings))

    def chat(self, chat_id: str) -> ChatOut:
        return self._run(routes.get_chat(chat_id))

    def join(self, chat_id: str) -> ChatOut:
        return self._run(routes.join_chat(chat_id))

    def leave(self, chat_id: str) -> None:
        self._run(routes.leave_chat(chat_id))

    def send(
        self,
        chat_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
        to: Sequence[str] | None = None,
    ) -> MessageView:
        """Post a message, retried on lost answers, 5xx and 429 with one ``client_message_id``
        (generated when not given): stored once, however many sends it took. ``to``: a whisper, seen
        only by you and those members (1 to 5 participant ids); the others get a Withheld marker."""
        return self._run(routes.post_message(chat_id, text, client_message_id, to))

    def command(
        self, chat_id: str, text: str, *, client_message_id: str | None = None
    ) -> AcceptedCommand | PostedMessage:
        """Type a slash command (``'/poll "Lunch?" Pizza Sushi'``): the server's acceptance (its
        extension got it; no message stored), or the message it became when no enabled extension
        declares it. One ``client_message_id`` for every retry: the command is handled once."""
        return self._run(routes.run_command(chat_id, text, client_message_id))

    def commands(self, chat_id: str) -> list[CommandInfo]:
        """The slash commands the chat's enabled extensions answer."""
        return self._run(routes.list_commands(chat_id)).items

    def messages(
        self, chat_id: str, *, after: int | None = None, before: int | None = None, limit: int | None = None
    ) -> MessagePage:
        return self._run(routes.list_messages(chat_id, after, before, limit))

    def act(
        self,
        chat_id: str,
        message_id: str,
        action_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        client_action_id: str | None = None,
    ) -> SubmittedAction:
        """Click, choose, submit or vote on an extension's message (its blocks' ``action_id``), retried
        with one ``client_action_id``: the extension gets it once."""
        return self._run(routes.submit_action(chat_id, message_id, action_id, values, client_action_id))

    def history(self, chat_id: str, *, after: int = 0, page_size: int = PAGE) -> Iterator[MessageView]:
        """Every message after ``after``, oldest first, a page at a time as the caller reads on."""
        cursor: int | None = after
        while cursor is not None:
            page = self.messages(chat_id, after=cursor, limit=page_size)
            yield from page.items
            cursor = int(page.next) if page.next else None

    def change_settings(self, chat_id: str, **changes: Any) -> ChatOut:
        return self._run(routes.change_settings(chat_id, changes))

    def grant_turn(self, chat_id: str, participant_id: str) -> ChatOut:
        return self._run(routes.grant_turn(chat_id, participant_id))

    def complete(self, chat_id: str) -> ChatOut:
        return self._run(routes.complete_chat(chat_id))

    def event_page(self, chat_id: str, *, after: int | None = None, limit: int | None = None) -> EventPage:
        return self._run(routes.list_events(chat_id, after, limit))

    def events(self, chat_id: str, *, after: int = 0, page_size: int = PAGE) -> Iterator[Envelope[EventData]]:
        """The chat's event log after ``after``, as the catalog's typed envelopes, in sequence order.
        Markers of events you may not see (``Withheld``, no envelope) are skipped: ``event_page``
        shows them."""
        cursor: int | None = after
        while cursor is not None:
            page = self.event_page(chat_id, after=cursor, limit=page_size)
            yield from (envelope_of(item) for item in page.items if item.event_type != "Withheld")
            cursor = int(page.next) if page.next else None

    def extensions(self) -> list[ExtensionDocument]:
        return self._run(routes.list_extensions())

    def installs(self, chat_id: str) -> list[InstallOut]:
        return self._run(routes.list_installs(chat_id))

    def install(self, chat_id: str, extension_id: str) -> InstallOut:
        return self._run(routes.get_install(chat_id, extension_id))

    def put_install(
        self,
        chat_id: str,
        extension_id: str,
        *,
        enabled: bool = True,
        config: Mapping[str, Any] | None = None,
        shadow: bool = False,
        shadow_config: Mapping[str, Any] | None = None,
    ) -> InstallOut:
        return self._run(routes.put_install(chat_id, extension_id, enabled, config, shadow, shadow_config))

    def uninstall(self, chat_id: str, extension_id: str) -> None:
        self._run(routes.uninstall(chat_id, extension_id))

    def analytics(self, chat_id: str) -> ChatAnalytics:
        return self._run(routes.chat_analytics(chat_id))

    def analytics_csv(self, chat_id: str) -> str:
        return self._run(routes.chat_analytics_csv(chat_id))

    def analytics_summary(self, *, first: date | None = None, last: date | None = None) -> AnalyticsSummary:
        return self._run(routes.analytics_summary(first, last))

    def analytics_summary_csv(self, *, first: date | None = None, last: date | None = None) -> str:
        return self._run(routes.analytics_summary_csv(first, last))

    def extension_usage(self, extension_id: str, *, day: date | None = None) -> ExtensionUsage:
        """An extension's usage on a UTC day (default today) and its estimated cost (operators)."""
        return self._run(routes.extension_usage(extension_id, day))

    def extension_chat_usage(
        self, extension_id: str, chat_id: str, *, day: date | None = None
    ) -> ExtensionChatUsage:
        """An extension's usage in one chat on a UTC day (default today), from its log (operators)."""
        return self._run(routes.extension_chat_usage(extension_id, chat_id, day))

    def extension_chats_usage(
        self, extension_id: str, *, day: date | None = None, limit: int = 20
    ) -> ExtensionChatsUsage:
        """The chats where an extension cost most on a UTC day (default today) (operators)."""
        return self._run(routes.extension_chats_usage(extension_id, day, limit))

    def ticket(self) -> Ticket:
        return self._run(routes.create_ticket())


class AsyncClient:
    """The same calls as ``Client``, awaitable, plus ``live()``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: Transport = urllib_transport,
        connect: Connect = connect_websocket,
    ) -> None:
        self.sync = Client(
            base_url,
            token=token,
            token_provider=token_provider,
            retry=retry,
            timeout=timeout,
            transport=transport,
        )
        self.base_url = self.sync.base_url
        self._connect = connect
        self._lives: list[Live] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    async def _run(self, call: routes.Call[T]) -> T:
        return await asyncio.to_thread(self.sync._run, call)

    async def health(self) -> Health:
        return await self._run(routes.health())

    async def workflows_schema(self) -> dict[str, Any]:
        return await self._run(routes.workflows_schema())

    async def chat_page(self, *, cursor: str | None = None, limit: int | None = None) -> ChatList:
        return await self._run(routes.list_chats(cursor, limit))

    async def chats(self) -> list[ChatListItem]:
        items: list[ChatListItem] = []
        cursor: str | None = None
        while True:
            page = await self.chat_page(cursor=cursor)
            items.extend(page.items)
            if not page.next:
                return items
            cursor = page.next

    async def mark_read(self, chat_id: str, sequence: int) -> ReadOut:
        return await self._run(routes.mark_read(chat_id, sequence))

    async def create_chat(
        self,
        title: str,
        *,
        mode: TurnMode = "free",
        ai: Iterable[str | AIParticipantIn] = (),
        settings: Mapping[str, Any] | None = None,
    ) -> ChatOut:
        return await self._run(routes.create_chat(title, mode, tuple(ai), settings))

    async def chat(self, chat_id: str) -> ChatOut:
        return await self._run(routes.get_chat(chat_id))

    async def join(self, chat_id: str) -> ChatOut:
        return await self._run(routes.join_chat(chat_id))

    async def leave(self, chat_id: str) -> None:
        await self._run(routes.leave_chat(chat_id))

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
        to: Sequence[str] | None = None,
    ) -> MessageView:
        """As ``Client.send``: one ``client_message_id`` for every retry, so it is stored once.

        While a ``live()`` stream of this client is subscribed to the chat, its socket is named as the
        post's origin: the server does not push the message back to it, and the stream delivers the
        answer's copy instead, in sequence order (the sender's other sockets still get the push)."""
        live = next((s for s in self._lives if s.origin_for(chat_id) is not None), None)
        origin = live.origin_for(chat_id) if live is not None else None
        posted = await self._run(routes.post_message(chat_id, text, client_message_id, to, origin))
        if live is not None and posted.frame is not None:
            live.posted(posted.frame)
        return posted

    async def command(
        self, chat_id: str, text: str, *, client_message_id: str | None = None
    ) -> AcceptedCommand | PostedMessage:
        """As ``Client.command``."""
        return await self._run(routes.run_command(chat_id, text, client_message_id))

    async def commands(self, chat_id: str) -> list[CommandInfo]:
        return (await self._run(routes.list_commands(chat_id))).items

    async def messages(
        self, chat_id: str, *, after: int | None = None, before: int | None = None, limit: int | None = None
    ) -> MessagePage:
        return await self._run(routes.list_messages(chat_id, after, before, limit))

    async def act(
        self,
        chat_id: str,
        message_id: str,
        action_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        client_action_id: str | None = None,
    ) -> SubmittedAction:
        return await self._run(routes.submit_action(chat_id, message_id, action_id, values, client_action_id))

    async def history(
        self, chat_id: str, *, after: int = 0, page_size: int = PAGE
    ) -> AsyncIterator[MessageView]:
        cursor: int | None = after
        while cursor is not None:
            page = await self.messages(chat_id, after=cursor, limit=page_size)
            for item in page.items:
                yield item
            cursor = int(page.next) if page.next else None

    async def change_settings(self, chat_id: str, **changes: Any) -> ChatOut:
        return await self._run(routes.change_settings(chat_id, changes))

    async def grant_turn(self, chat_id: str, participant_id: str) -> ChatOut:
        return await self._run(routes.grant_turn(chat_id, participant_id))

    async def complete(self, chat_id: str) -> ChatOut:
        return await self._run(routes.complete_chat(chat_id))

    async def event_page(
        self, chat_id: str, *, after: int | None = None, limit: int | None = None
    ) -> EventPage:
        return await self._run(routes.list_events(chat_id, after, limit))

    async def events(
        self, chat_id: str, *, after: int = 0, page_size: int = PAGE
    ) -> AsyncIterator[Envelope[EventData]]:
        cursor: int | None = after
        while cursor is not None:
            page = await self.event_page(chat_id, after=cursor, limit=page_size)
            for item in page.items:
                if item.event_type != "Withheld":  # as Client.events: a marker has no envelope
                    yield envelope_of(item)
            cursor = int(page.next) if page.next else None

    async def extensions(self) -> list[ExtensionDocument]:
        return await self._run(routes.list_extensions())

    async def installs(self, chat_id: str) -> list[InstallOut]:
        return await self._run(routes.list_installs(chat_id))

    async def install(self, chat_id: str, extension_id: str) -> InstallOut:
        return await self._run(routes.get_install(chat_id, extension_id))

    async def put_install(
        self,
        chat_id: str,
        extension_id: str,
        *,
        enabled: bool = True,
        config: Mapping[str, Any] | None = None,
        shadow: bool = False,
        shadow_config: Mapping[str, Any] | None = None,
    ) -> InstallOut:
        return await self._run(
            routes.put_install(chat_id, extension_id, enabled, config, shadow, shadow_config)
        )

    async def uninstall(self, chat_id: str, extension_id: str) -> None:
        await self._run(routes.uninstall(chat_id, extension_id))

    async def analytics(self, chat_id: str) -> ChatAnalytics:
        return await self._run(routes.chat_analytics(chat_id))

    async def analytics_csv(self, chat_id: str) -> str:
        return await self._run(routes.chat_analytics_csv(chat_id))

    async def analytics_summary(
        self, *, first: date | None = None, last: date | None = None
    ) -> AnalyticsSummary:
        return await self._run(routes.analytics_summary(first, last))

    async def analytics_summary_csv(self, *, first: date | None = None, last: date | None = None) -> str:
        return await self._run(routes.analytics_summary_csv(first, last))

    async def extension_usage(self, extension_id: str, *, day: date | None = None) -> ExtensionUsage:
        """An extension's usage on a UTC day (default today) and its estimated cost (operators)."""
        return await self._run(routes.extension_usage(extension_id, day))

    async def extension_chat_usage(
        self, extension_id: str, chat_id: str, *, day: date | None = None
    ) -> ExtensionChatUsage:
        """An extension's usage in one chat on a UTC day (default today), from its log (operators)."""
        return await self._run(routes.extension_chat_usage(extension_id, chat_id, day))

    async def extension_chats_usage(
        self, extension_id: str, *, day: date | None = None, limit: int = 20
    ) -> ExtensionChatsUsage:
        """The chats where an extension cost most on a UTC day (default today) (operators)."""
        return await self._run(routes.extension_chats_usage(extension_id, day, limit))

    async def ticket(self) -> Ticket:
        return await self._run(routes.create_ticket())

    def live(
        self,
        chat_ids: Sequence[str],
        *,
        after: int | Mapping[str, int] | None = None,
        keepalive: float = 300.0,
        max_reconnects: int = 10,
    ) -> Live:
        """Each client-visible event of ``chat_ids`` once, in sequence order, across reconnects.

        ``after``: the last sequence already seen (per chat, or one for all); None starts from now.
        Iterate it (``async for event in client.live(ids)``), or enter it first (``async with``) to be
        subscribed before sending. Gives up (``LiveError``) after ``max_reconnects`` failed attempts
        in a row."""
        stream = Live(
            self,
            list(chat_ids),
            after=after,
            connect=self._connect,
            keepalive=keepalive,
            max_reconnects=max_reconnects,
        )
        self._lives.append(stream)
        return stream

    def _forget(self, stream: Live) -> None:
        self._lives = [s for s in self._lives if s is not stream]
