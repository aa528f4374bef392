"""Synchronous hooks: extensions rule on a post (moderation, turn) or on what a viewer reads (read
filters) within a time budget.

The core calls each enabled hook of a chat before the message is stored. A hook that answers late,
raises or returns nonsense never blocks the post longer than its budget: the chat's fallback
(``allow`` or ``reject``) applies and the decision is recorded with ``outcome`` timeout or error.

In AWS a hook is a synchronous Lambda invoke of the extension's function (its handler tells a
hook payload from an SQS batch; ``parley.adapters.lambda_invoke``); locally the same handler is
called in-process. Both sit behind ``HookInvoker``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parley.domain.model import MAX_MESSAGE_LENGTH
from parley.errors import HookTimeoutError
from parley.extensions.manifest import ExtensionDocument
from parley.observability import logger

HOOK_KEY = "parley_hook"


class HookInvoker(Protocol):
    def invoke(self, document: ExtensionDocument, payload: dict[str, Any], timeout_seconds: float) -> Any:
        """Run the extension's hook with ``payload``; return its JSON answer or raise."""
        ...


class ModerationRequest(BaseModel):
    """What a moderation hook sees: the post and this chat's config of the extension."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    chat_id: str
    message_id: str
    sender_id: str
    sender_name: str
    text: str
    config: dict[str, Any] = Field(default_factory=dict)


class ModerationDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    action: Literal["allow", "reject", "rewrite"]
    reason: str = Field("", max_length=500)
    text: str | None = Field(None, description="The rewritten text (action `rewrite`).")


class TurnRequest(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    chat_id: str
    message_id: str
    sender_id: str
    turn_mode: str
    turn_holder_id: str | None
    turn_number: int
    in_turn_by_mode: bool = Field(description="What the chat's own turn mode would rule.")
    config: dict[str, Any] = Field(default_factory=dict)


class TurnDecision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    allow: bool
    reason: str = Field("", max_length=500)


MAX_FILTERED_MESSAGES = 50
"""Messages one read-filter call rules on at most: a history page of misses is one call, not fifty."""


class ReadMessage(BaseModel):
    """A stored message as a read filter sees it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    message_id: str
    sequence: int
    sender_id: str
    sender_name: str
    sender_kind: str
    text: str
    """Its text, then its blocks' visible text one line each (an interactive message's poll question...)."""


class ReadFilterRequest(BaseModel):
    """What a read filter (`on_read`) sees: stored messages, the chat's members who may read them, and
    this chat's config of the extension. It answers for every (message, viewer) pair at once."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    chat_id: str
    messages: list[ReadMessage] = Field(max_length=MAX_FILTERED_MESSAGES)
    viewers: list[str] = Field(description="Participant ids of the viewers to rule for.")
    config: dict[str, Any] = Field(default_factory=dict)


class ReadVerdict(BaseModel):
    """One message, for some viewers: `hide` it (they get a marker without its text) or `rewrite` it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    message_id: str
    viewers: list[str] = Field(min_length=1)
    action: Literal["keep", "hide", "rewrite"]
    text: str | None = Field(
        None, max_length=MAX_MESSAGE_LENGTH, description="What these viewers read (action `rewrite`)."
    )


class ReadFilterAnswer(BaseModel):
    """A read filter's answer: every (message, viewer) pair it names no verdict for is kept as stored."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    verdicts: list[ReadVerdict] = Field(default_factory=list)

    def check(self, request: ReadFilterRequest) -> ReadFilterAnswer:
        """Itself, if it only names the request's messages and viewers; rewrites carry text."""
        messages = {m.message_id for m in request.messages}
        viewers = set(request.viewers)
        for verdict in self.verdicts:
            if verdict.message_id not in messages or not viewers.issuperset(verdict.viewers):
                raise ValueError("a verdict names a message or viewer the request did not")
            if verdict.action == "rewrite" and verdict.text is None:
                raise ValueError("a rewrite needs `text`")
        return self

    @classmethod
    def fallback(cls, request: ReadFilterRequest, fallback: Literal["allow", "reject"]) -> ReadFilterAnswer:
        """The chat's fallback as an answer: `allow` keeps every message, `reject` hides each from all."""
        if fallback == "allow" or not request.viewers:
            return cls()
        return cls(
            verdicts=[
                ReadVerdict(message_id=m.message_id, viewers=list(request.viewers), action="hide")
                for m in request.messages
            ]
        )


class BackfillRequest(BaseModel):
    """A page of a chat's past events for one extension (``backfill`` in its manifest), oldest first.

    ``through`` is the last sequence before it was enabled; ``last`` marks the final page, after which
    the SDK lets live events of that chat through."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    chat_id: str
    through: int = Field(ge=1)
    events: list[dict[str, Any]] = Field(default_factory=list)
    last: bool = True


class BackfillAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    handled: int = Field(ge=0, description="Events a handler ran on (others it has no handler for).")


Outcome = Literal["decided", "timeout", "error"]


@dataclass(frozen=True)
class Ruling:
    extension_id: str
    outcome: Outcome
    elapsed_ms: float
    moderation: ModerationDecision | None = None
    turn: TurnDecision | None = None
    read: ReadFilterAnswer | None = None


_loader: Callable[[str], Callable[[dict[str, Any], Any], Any]] | None = None


def register_loader(load: Callable[[str], Callable[[dict[str, Any], Any], Any]]) -> None:
    """Where in-process hooks find a function's handler by name (the local stack registers its loader)."""
    global _loader
    _loader = load


def _registered_loader(name: str) -> Callable[[dict[str, Any], Any], Any]:
    if _loader is None:
        raise LookupError(
            "no in-process function loader registered (parley.extensions.hooks.register_loader)"
        )
    return _loader(name)


class InProcessHookInvoker:
    """Calls the extension's Lambda handler in this process, in a worker thread with a deadline.

    ``load`` maps a function name to its handler (the local stack's loader). A hook that overruns is
    abandoned to its thread, as a Lambda client abandons an invoke after its read timeout."""

    def __init__(
        self,
        load: Callable[[str], Callable[[dict[str, Any], Any], Any]] = _registered_loader,
        workers: int = 8,
    ) -> None:
        self._load = load
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hook")

    def invoke(self, document: ExtensionDocument, payload: dict[str, Any], timeout_seconds: float) -> Any:
        function = document.target.function
        if not function:
            raise LookupError(f"extension {document.id} has no function to run its hook")
        handler = self._load(function)
        future = self._pool.submit(handler, payload, None)
        try:
            return future.result(timeout=timeout_seconds)
        except FutureTimeout:
            raise HookTimeoutError(f"no answer within {timeout_seconds * 1000:.0f} ms") from None


class HookRunner:
    """Runs a chat's hooks one after another within one shared budget per hook."""

    def __init__(self, invoker: HookInvoker, *, budget_ms: int) -> None:
        self._invoker = invoker
        self._budget_ms = budget_ms

    def _call(self, document: ExtensionDocument, payload: dict[str, Any]) -> tuple[Any, Outcome, float]:
        budget = (document.hooks.budget_ms or self._budget_ms) / 1000
        started = time.perf_counter()
        try:
            answer = self._invoker.invoke(document, payload, budget)
            outcome: Outcome = "decided"
        except HookTimeoutError:
            answer, outcome = None, "timeout"
        except Exception:
            logger.exception("extension hook failed", extra={"extension_id": document.id})
            answer, outcome = None, "error"
        elapsed = (time.perf_counter() - started) * 1000
        if outcome == "decided" and elapsed > budget * 1000:
            answer, outcome = None, "timeout"
        return answer, outcome, elapsed

    def moderate(
        self, document: ExtensionDocument, request: ModerationRequest, fallback: Literal["allow", "reject"]
    ) -> Ruling:
        answer, outcome, elapsed = self._call(
            document, {HOOK_KEY: "moderate", "request": request.model_dump(mode="json")}
        )
        decision: ModerationDecision | None = None
        if outcome == "decided":
            try:
                decision = ModerationDecision.model_validate(answer)
                if decision.action == "rewrite" and decision.text is None:
                    raise ValueError("a rewrite needs `text`")
            except (ValidationError, ValueError):
                logger.warning("moderation hook answered nonsense", extra={"extension_id": document.id})
                decision, outcome = None, "error"
        if decision is None:
            decision = ModerationDecision(
                action=fallback, reason=f"hook {outcome}; the chat's fallback applied"
            )
        return Ruling(document.id, outcome, elapsed, moderation=decision)

    def validate_turn(
        self, document: ExtensionDocument, request: TurnRequest, fallback: Literal["allow", "reject"]
    ) -> Ruling:
        answer, outcome, elapsed = self._call(
            document, {HOOK_KEY: "validate_turn", "request": request.model_dump(mode="json")}
        )
        decision: TurnDecision | None = None
        if outcome == "decided":
            try:
                decision = TurnDecision.model_validate(answer)
            except ValidationError:
                decision, outcome = None, "error"
        if decision is None:
            decision = TurnDecision(
                allow=fallback == "allow", reason=f"hook {outcome}; the chat's fallback applied"
            )
        return Ruling(document.id, outcome, elapsed, turn=decision)

    def filter_reads(
        self, document: ExtensionDocument, request: ReadFilterRequest, fallback: Literal["allow", "reject"]
    ) -> Ruling:
        """A read filter's verdicts on ``request``; on a timeout, an error or nonsense, the fallback's."""
        answer, outcome, elapsed = self._call(
            document, {HOOK_KEY: "on_read", "request": request.model_dump(mode="json")}
        )
        read: ReadFilterAnswer | None = None
        if outcome == "decided":
            try:
                read = ReadFilterAnswer.model_validate(answer).check(request)
            except (ValidationError, ValueError):
                logger.warning("read filter answered nonsense", extra={"extension_id": document.id})
                outcome = "error"
        if read is None:
            read = ReadFilterAnswer.fallback(request, fallback)
        return Ruling(document.id, outcome, elapsed, read=read)


HOOK_CAPABILITIES: dict[str, str] = {
    "moderate": "messages:moderate",
    "validate_turn": "turns:control",
    "on_read": "messages:filter",
}


def hooked(
    installs: Mapping[str, Any],
    registry: Mapping[str, ExtensionDocument],
    kind: Literal["moderate", "validate_turn", "on_read"],
) -> list[ExtensionDocument]:
    """The registered documents of the chat's enabled extensions that have a hook of ``kind``, in a
    stable order (by id), so a rewrite chain is the same on every attempt; shadow installs rule
    beside them (``shadowed``), never in the chain."""
    return [document for document, install in _hooks(installs, registry, kind) if not install.shadow]


ShadowConfig = Literal["config", "shadow_config"]


def shadowed(
    installs: Mapping[str, Any],
    registry: Mapping[str, ExtensionDocument],
    kind: Literal["moderate", "validate_turn"],
) -> list[tuple[ExtensionDocument, dict[str, Any], ShadowConfig]]:
    """The rulings to ask for and record without applying them: each shadow install's hook with its
    config, and each hook with its install's ``shadow_config`` (beside the live ruling)."""
    found: list[tuple[ExtensionDocument, dict[str, Any], ShadowConfig]] = []
    for document, install in _hooks(installs, registry, kind):
        if install.shadow:
            found.append((document, install.config, "config"))
        if install.shadow_config is not None:
            found.append((document, install.shadow_config, "shadow_config"))
    return found


def _hooks(
    installs: Mapping[str, Any],
    registry: Mapping[str, ExtensionDocument],
    kind: Literal["moderate", "validate_turn", "on_read"],
) -> list[tuple[ExtensionDocument, Any]]:
    capability = HOOK_CAPABILITIES[kind]
    found = []
    for extension_id in sorted(installs):
        install = installs[extension_id]
        document = registry.get(extension_id)
        if not install.enabled or document is None or not document.can(capability):
            continue
        if getattr(document.hooks, kind):
            found.append((document, install))
    return found
