"""Backfill: an extension whose manifest asks for history gets a chat's past events when enabled there.

Fed by ExtensionActivated (which names the last sequence before the enabling, ``backfill_through``),
it reads the chat's log (at most the manifest's ``backfill_max_events`` last entries), keeps what the
extension subscribes to and every member may read, and hands it to that one extension only, in
order, in pages, by a synchronous invoke of its function (as hooks are): never as new event rows,
which the relay would put on the bus for everyone. A failed page fails the delivery, so its queue
retries the whole backfill; the SDK's claims (or an extension's idempotent writes) make a second
delivery of an event change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from parley.catalog import Envelope, ExtensionActivated
from parley.domain import audience
from parley.extensions.hooks import HOOK_KEY, BackfillAnswer, BackfillRequest, HookInvoker
from parley.extensions.manifest import ExtensionDocument
from parley.observability import logger

PAGE = 100
"""Events per invoke: well under Lambda's 6 MB synchronous payload at the chat's event sizes."""
INVOKE_SECONDS = 300.0
"""A page's deadline: a handler runs within its own (10 s by default) per event."""
READ_PAGE = 500


class EventLog(Protocol):
    def events(self, chat_id: str, *, after: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]: ...


def visible(detail: dict[str, Any], document: ExtensionDocument) -> bool:
    """An event the extension subscribes to and may see as the live routing would have delivered it
    (``parley.domain.audience``): no moderators' notice or whisper to others, unless it holds
    ``messages:read_private``."""
    if detail["metadata"]["event_type"] not in document.events:
        return False
    return audience.extension_may_see(
        document.id, audience.audience_of_detail(detail), lambda _: document.can(audience.READ_PRIVATE)
    )


class BackfillService:
    def __init__(
        self,
        registry: Callable[[], Mapping[str, ExtensionDocument]],
        log: EventLog,
        invoker: HookInvoker,
    ) -> None:
        self._registry = registry
        self._log = log
        self._invoker = invoker

    def on_activated(self, envelope: Envelope[Any]) -> int:
        """Deliver the backfill an ExtensionActivated asks for; how many events the handlers ran on."""
        data = envelope.data
        if not isinstance(data, ExtensionActivated) or data.backfill_through is None:
            return 0
        document = self._registry().get(data.extension_id)
        if document is None or not document.backfill:
            return 0
        chat_id, through = envelope.metadata.chat_id, data.backfill_through
        pages = list(self._pages(document, chat_id, through)) or [[]]
        handled = 0
        for n, page in enumerate(pages):
            request = BackfillRequest(chat_id=chat_id, through=through, events=page, last=n == len(pages) - 1)
            answer = self._invoker.invoke(
                document, {HOOK_KEY: "backfill", "request": request.model_dump(mode="json")}, INVOKE_SECONDS
            )
            handled += BackfillAnswer.model_validate(answer).handled
        logger.info(
            "backfill delivered",
            extra={"extension_id": document.id, "chat_id": chat_id, "through": through, "handled": handled},
        )
        return handled

    def _pages(
        self, document: ExtensionDocument, chat_id: str, through: int
    ) -> Iterator[list[dict[str, Any]]]:
        """The chat's log entries after ``through - backfill_max_events`` up to ``through`` that the
        extension gets, in sequence order, ``PAGE`` at a time."""
        after, page = max(0, through - document.backfill_max_events), []
        while after < through:
            details, more = self._log.events(chat_id, after=after, limit=min(READ_PAGE, through - after))
            for detail in details:
                if detail["metadata"]["sequence"] <= through and visible(detail, document):
                    page.append(detail)
                if len(page) == PAGE:
                    yield page
                    page = []
            if not more or not details:
                break
            after = details[-1]["metadata"]["sequence"]
        if page:
            yield page
