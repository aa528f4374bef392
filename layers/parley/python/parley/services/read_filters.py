"""Read filters: extensions' ``on_read`` hooks keep, hide or rewrite stored messages per viewer.

Every read path calls ``ReadFilters.verdicts`` (through the helpers below) after the audience rules
have picked what the viewer may see: the broadcaster's fan-out, GET messages, GET events and the
subscribe replay. A chat with no read filter enabled costs nothing: no read, no call.

Cost is bounded. The hook is asked once per message, for every member at once (one call rules on up
to ``MAX_FILTERED_MESSAGES`` messages), and its verdicts are cached in one item per message version
(``parley.adapters.history``: the message is its event-log row, which stays append-only) rather
than in a table of (message, viewer) rows: a chat has at most ``MAX_PARTICIPANTS`` members, so one
message's verdicts stay a few KB; they are written once and read with one BatchGetItem per page.
(Verdicts cached on the older message rows are not read: those messages are ruled once more.)
An extension's update (MessageUpdated) is a new version: read-filtered like the message as posted,
ruled on afresh (a verdict on another version, even one saved late, never applies to it).
The cache entry names the filters and their configs (``filter_key``), so a config change rules
again on the next read; so does a member who joined after the ruling. An entry expires
``VERDICT_TTL`` after its ruling (DynamoDB's TTL): a missing entry is ruled on again, so the expiry
only bounds storage (history read a month later costs one hook call per page again).

On a hook's timeout, error or malformed answer the chat's ``hook_fallback`` applies to that call's
messages: ``allow`` keeps them as stored, ``reject`` hides them from every viewer. A fallback is never
cached: the next read asks the hook again. Two readers racing on an uncached message may both ask
the hook; the verdicts they write are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from parley.blocks import visible_text
from parley.catalog import Envelope, MessageView
from parley.clock import utc_now
from parley.domain import audience
from parley.domain.model import Chat
from parley.domain.read_filters import Action, MessageKey, MessageVerdicts, filter_key, readers, stronger
from parley.errors import StoreError
from parley.extensions.manifest import ExtensionDocument
from parley.observability import logger

if TYPE_CHECKING:
    # the hook protocol's models load only when a chat has a read filter to ask: the broadcaster's
    # and the inbox's cold starts skip them (tests/unit/test_read_filter_imports.py)
    from parley.extensions.hooks import HookRunner, ReadMessage

MESSAGE_EVENTS = frozenset({"MessageStored", "MessageUpdated"})
"""The events that carry a message (as posted, or an extension's update of it): read-filtered alike."""
Ruling = tuple[Action, str | None]
VERDICT_TTL = timedelta(days=30)
"""A cached ruling's lifetime: the messages read again later are few, and a missing one is ruled again."""


class VerdictCache(Protocol):
    def read_verdicts(
        self, chat_id: str, versions: Sequence[MessageKey]
    ) -> dict[MessageKey, MessageVerdicts]: ...

    def save_read_verdicts(
        self, chat_id: str, sequence: int, verdicts: MessageVerdicts, *, expires_at: datetime
    ) -> None: ...


@dataclass(frozen=True)
class Verdicts:
    """What each viewer reads of a set of messages, by (sequence, version): a verdict on one version
    never applies to another; unknown ones are kept."""

    by_version: Mapping[MessageKey, MessageVerdicts] = field(default_factory=dict)

    def message(self, message: MessageView, viewer: str) -> MessageView:
        verdicts = self.by_version.get(_key(message))
        return verdicts.apply(message, viewer) if verdicts else message

    def envelope(self, envelope: Envelope[Any], viewer: str) -> Envelope[Any]:
        if envelope.event_type not in MESSAGE_EVENTS or _key(envelope.data.message) not in self.by_version:
            return envelope
        seen = self.message(envelope.data.message, viewer)
        return envelope.model_copy(update={"data": envelope.data.model_copy(update={"message": seen})})

    def detail(self, detail: dict[str, Any], viewer: str) -> dict[str, Any]:
        message = _stored_message(detail)
        if message is None or _key(message) not in self.by_version:
            return detail
        seen = self.message(message, viewer).model_dump(mode="json")
        return {**detail, "data": {**detail["data"], "message": seen}}


NO_FILTER = Verdicts()


class ReadFilters:
    def __init__(
        self,
        cache: VerdictCache,
        registry: Callable[[], Mapping[str, ExtensionDocument]],
        hooks: HookRunner | Callable[[], HookRunner],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``hooks`` may be a factory (``parley.root.hook_runner``): built on the first ruling."""
        self._cache = cache
        self._clock = clock
        self._registry = registry
        self._hooks_of = hooks if callable(hooks) else lambda: hooks

    def may_filter(self, extension_ids: Iterable[str]) -> bool:
        """Whether one of these extensions (an event's ``metadata.extensions``) has a read filter:
        the broadcaster loads the chat only then."""
        registry = self._registry()
        return any(
            (d := registry.get(i)) is not None and d.hooks.on_read and d.can("messages:filter")
            for i in extension_ids
        )

    def filters(self, chat: Chat) -> bool:
        """Whether the chat has a read filter enabled: a read path that must first load a message
        to rule on asks this, so a chat without one costs nothing."""
        return bool(_on_read(chat, self._registry()))

    def verdicts(self, chat: Chat, messages: Sequence[MessageView], viewers: Collection[str]) -> Verdicts:
        """The one entry point: what ``viewers`` read of ``messages``, from the cache, asking the
        chat's read filters only about messages no cached verdict covers."""
        documents = _on_read(chat, self._registry())
        if not documents or not messages:
            return NO_FILTER
        key = filter_key(chat, [(d.id, d.version) for d in documents])
        found = self._cache.read_verdicts(chat.chat_id, [_key(m) for m in messages])
        fresh = {k: v for k, v in found.items() if v.covers(key, k[1], viewers)}
        missing = list({_key(m): m for m in messages if _key(m) not in fresh}.values())
        readers_now = sorted(readers(chat) | set(viewers))
        for chunk in _chunks(missing):
            fresh.update(self._rule(chat, documents, key, chunk, readers_now))
        return Verdicts(fresh)

    def _rule(
        self,
        chat: Chat,
        documents: Sequence[ExtensionDocument],
        key: str,
        messages: Sequence[MessageView],
        viewers: list[str],
    ) -> dict[MessageKey, MessageVerdicts]:
        """Ask every filter about ``messages`` (one call each), fold their verdicts, cache them unless
        a fallback stood in for a filter."""
        from parley.extensions.hooks import ReadFilterRequest

        rulings: dict[str, dict[str, Ruling]] = {m.message_id: {} for m in messages}
        decided = True
        for document in documents:
            # a whisper reaches a filter only as any private event reaches an extension: addressed
            # to it, or under messages:read_private; the others keep it as stored
            seen = [m for m in messages if _may_see(document, m)]
            if not seen:
                continue
            request = ReadFilterRequest(
                chat_id=chat.chat_id,
                messages=[_read_message(m) for m in seen],
                viewers=viewers,
                config=chat.extensions[document.id].config,
            )
            ruling = self._hooks_of().filter_reads(document, request, chat.settings.hook_fallback)
            decided = decided and ruling.outcome == "decided"
            assert ruling.read is not None
            for verdict in ruling.read.verdicts:
                for viewer in verdict.viewers:
                    held = rulings[verdict.message_id].get(viewer)
                    rulings[verdict.message_id][viewer] = stronger(held, (verdict.action, verdict.text))
            logger.info(
                "read filter ruled",
                extra={"extension_id": document.id, "outcome": ruling.outcome, "messages": len(messages)},
            )
        ruled = {
            _key(m): MessageVerdicts.combine(key, viewers, rulings[m.message_id], version=m.version)
            for m in messages
        }
        if decided:
            self._save(chat.chat_id, ruled)
        return ruled

    def _save(self, chat_id: str, ruled: Mapping[MessageKey, MessageVerdicts]) -> None:
        """The cache only saves later calls: a write that fails leaves the read (or push) as ruled."""
        expires_at = self._clock() + VERDICT_TTL
        try:
            for (sequence, _), verdicts in ruled.items():
                self._cache.save_read_verdicts(chat_id, sequence, verdicts, expires_at=expires_at)
        except StoreError:
            logger.warning("read verdicts not cached", extra={"chat_id": chat_id}, exc_info=True)

    # -- what the read paths call --------------------------------------------------------------------

    def messages_for(self, chat: Chat, viewer: str, messages: Sequence[MessageView]) -> list[MessageView]:
        verdicts = self.verdicts(chat, messages, [viewer])
        return [verdicts.message(m, viewer) for m in messages]

    def details_for(self, chat: Chat, viewer: str, details: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Event-log rows (GET events, the subscribe replay) as ``viewer`` reads them."""
        stored = [m for m in (_stored_message(d) for d in details) if m is not None]
        verdicts = self.verdicts(chat, stored, [viewer])
        return [verdicts.detail(d, viewer) for d in details]


def _may_see(document: ExtensionDocument, message: MessageView) -> bool:
    return audience.extension_may_see(
        document.id, audience.message_audience(message), lambda _: document.can(audience.READ_PRIVATE)
    )


def _key(message: MessageView) -> MessageKey:
    return message.sequence, message.version


def _chunks(messages: Sequence[MessageView]) -> list[list[MessageView]]:
    """One hook call's messages: at most ``MAX_FILTERED_MESSAGES``, and one version of each message
    (verdicts name a message by id; GET events may hold its MessageStored and MessageUpdated rows)."""
    from parley.extensions.hooks import MAX_FILTERED_MESSAGES

    chunks: list[list[MessageView]] = []
    for message in messages:
        chunk = next((c for c in chunks if len(c) < MAX_FILTERED_MESSAGES and _fits(c, message)), None)
        if chunk is None:
            chunks.append(chunk := [])
        chunk.append(message)
    return chunks


def _fits(chunk: Sequence[MessageView], message: MessageView) -> bool:
    return all(m.message_id != message.message_id for m in chunk)


def _stored_message(detail: Mapping[str, Any]) -> MessageView | None:
    """The message an event-log row carries (MessageStored or MessageUpdated), else None."""
    if detail.get("metadata", {}).get("event_type") not in MESSAGE_EVENTS:
        return None
    return MessageView.model_validate(detail["data"]["message"])


def _on_read(chat: Chat, registry: Mapping[str, ExtensionDocument]) -> list[ExtensionDocument]:
    """The chat's enabled read filters (``hooks.hooked``), importing the hook protocol only if one
    of its extensions declares a read filter at all."""
    if not any((d := registry.get(i)) is not None and d.hooks.on_read for i in chat.extensions):
        return []
    from parley.extensions.hooks import hooked

    return hooked(chat.extensions, registry, "on_read")


def _read_message(message: MessageView) -> ReadMessage:
    from parley.extensions.hooks import ReadMessage

    return ReadMessage(
        message_id=message.message_id,
        sequence=message.sequence,
        sender_id=message.sender_id,
        sender_name=message.sender_name,
        sender_kind=message.sender_kind,
        text=shown_text(message),
    )


def shown_text(message: MessageView) -> str:
    """What the message shows people: its text, then its blocks' visible text (as moderation hooks
    get it), so a filter rules on a poll's question too."""
    if not message.blocks:
        return message.text
    return "\n".join([message.text, visible_text(message.blocks)])
