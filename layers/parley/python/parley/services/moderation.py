"""The chat's moderation hooks for messages the core stores on someone's behalf (AI replies and
extension bots): members see them like posts, so they pass the same hooks as members' posts do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from parley.catalog import EventData, ExtensionShadowOutput, MessageModerated
from parley.domain.model import Chat, Outcome
from parley.errors import MessageRejectedError
from parley.extensions.hooks import HookRunner, ModerationDecision, ModerationRequest, hooked, shadowed
from parley.extensions.manifest import ExtensionDocument


@dataclass(frozen=True)
class Moderated:
    """The text to store (rewritten or not) and the records of every hook's decision."""

    text: str
    events: tuple[EventData, ...] = ()
    refusal: MessageRejectedError | None = None


def moderate(
    chat: Chat,
    registry: Mapping[str, ExtensionDocument],
    hooks: HookRunner,
    *,
    message_id: str,
    sender_id: str,
    sender_name: str,
    text: str,
) -> Moderated:
    """Run the chat's moderation hooks in order, each on the text the previous one left; the first
    rejection stops the chain (``refusal`` set, nothing to store). The chat's fallback applies to a
    hook that times out or fails, as for members' posts. No hook, no cost."""
    current = text
    post = ModerationRequest(
        chat_id=chat.chat_id, message_id=message_id, sender_id=sender_id, sender_name=sender_name, text=text
    )
    events: list[EventData] = shadow_moderation(chat, registry, hooks, post)
    for document in hooked(chat.extensions, registry, "moderate"):
        request = post.model_copy(update={"text": current, "config": chat.extensions[document.id].config})
        decision, ruled = _ask(hooks, chat, document, request)
        events.append(ruled)
        if decision.action == "reject":
            refusal = MessageRejectedError(
                f"{document.name} rejected the message: {decision.reason or 'no reason given'}",
                extension_id=document.id,
                reason=decision.reason,
                outcome=ruled.outcome,
            )
            return Moderated(text=current, events=tuple(events), refusal=refusal)
        if decision.action == "rewrite" and decision.text is not None:
            current = decision.text
    return Moderated(text=current, events=tuple(events))


def shadow_moderation(
    chat: Chat,
    registry: Mapping[str, ExtensionDocument],
    hooks: HookRunner,
    post: ModerationRequest,
) -> list[EventData]:
    """The rulings of shadow installs and shadow configs on the post as sent, recorded for moderators
    to compare with the live ones and never applied (each costs a hook call within its budget)."""
    recorded: list[EventData] = []
    for document, config, which in shadowed(chat.extensions, registry, "moderate"):
        decision, record = _ask(hooks, chat, document, post.model_copy(update={"config": config}))
        ruled = record.model_dump(mode="json")
        if decision.action == "rewrite" and decision.text is not None:
            ruled["text"] = decision.text
        recorded.append(
            ExtensionShadowOutput(
                extension_id=document.id, output_type="MessageModerated", output=ruled, config=which
            )
        )
    return recorded


def _ask(
    hooks: HookRunner, chat: Chat, document: ExtensionDocument, request: ModerationRequest
) -> tuple[ModerationDecision, MessageModerated]:
    """One hook's decision on the request and its record, shaped alike for live and shadow rulings."""
    ruling = hooks.moderate(document, request, chat.settings.hook_fallback)
    decision = ruling.moderation
    assert decision is not None
    return decision, MessageModerated(
        message_id=request.message_id,
        sender_id=request.sender_id,
        extension_id=document.id,
        action=decision.action,
        reason=decision.reason,
        outcome=ruling.outcome,
        elapsed_ms=round(ruling.elapsed_ms, 1),
    )


def with_rulings(outcome: Outcome, moderated: Moderated) -> Outcome:
    """The stored message's outcome with the hooks' decisions recorded in the same transaction."""
    return replace(outcome, events=(*moderated.events, *outcome.events))
