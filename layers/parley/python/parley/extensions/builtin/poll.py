"""`poll`: `/poll "Lunch?" "Pizza" "Sushi" [--closes 10m]` posts a poll people vote in by clicking.

One vote per member, changeable (a vote for another option moves it; the same one again changes
nothing); every vote updates the message (MessageUpdated), so everyone sees the counts move. A poll
closes when its author clicks "Close poll" (only the author may) or at its closing time: `--closes`
(`30s`, `10m`, `2h`, `1d`; 1 minute to 7 days) or the chat's `default_close_minutes`. No timer runs
for it: the time is in the poll block (`closes_at`), so the core refuses a late vote and clients show
it closed from that moment, and the extension marks the message closed, with its final counts, on its
next event in the chat (any vote, close or new poll there: ``due``). Its state, one row per poll, is
in the extension's store, written with the delivery that caused it (compare-and-set, so two votes at
once are both counted); the SDK runs each event once, so a redelivered vote changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from parley.blocks import MAX_LABEL, MAX_POLL_OPTIONS
from parley.catalog import Envelope, InteractionSubmitted
from parley.extensions.manifest import Manifest, SlashCommand
from parley.extensions.sdk import CommandCall, Context, Extension

VOTE, CLOSE = "vote", "close"
"""The action ids of a poll message: its poll block and its author's close button."""
MAX_QUESTION = 300
MIN_CLOSE, MAX_CLOSE = timedelta(minutes=1), timedelta(days=7)
DURATION = re.compile(r"^(\d{1,6})([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
USAGE = '"Question?" "Option" "Option" [more options, up to 10] [--closes 10m]'
OPEN_KEY = "open"
"""The store row listing the chat's open polls that have a closing time: {message_id: closes_at}."""


class PollConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    default_close_minutes: int | None = Field(
        None,
        ge=1,
        le=10_080,
        description="Polls without `--closes` close after this many minutes; none: open until their "
        "author closes them.",
    )


class PollUsageError(ValueError):
    """The command's arguments do not make a poll; the message tells its author how to fix it."""


class PollState(BaseModel):
    """One poll as the store keeps it: what it asks, who asked, and each member's current vote."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    message_id: str
    question: str
    options: tuple[str, ...]
    author_id: str
    closes_at: datetime | None = None
    closed: bool = False
    votes: dict[str, str] = Field(default_factory=dict, description="Member id -> option id.")
    revision: int = Field(
        0, description="Grows with every change: the update's revision, so an older state never shows."
    )

    def option_ids(self) -> tuple[str, ...]:
        return tuple(f"o{n}" for n in range(1, len(self.options) + 1))

    def due(self, now: datetime) -> bool:
        """Past its closing time and not yet marked closed."""
        return not self.closed and self.closes_at is not None and now >= self.closes_at


def parse_duration(text: str) -> timedelta:
    """``10m`` is ten minutes; between a minute and a week."""
    match = DURATION.match(text.strip().lower())
    if match is None:
        raise PollUsageError(f"--closes takes a duration like 30s, 10m, 2h or 1d, not {text!r}")
    duration = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    if not MIN_CLOSE <= duration <= MAX_CLOSE:
        raise PollUsageError("--closes is between 1m and 7d")
    return duration


def start(call: CommandCall, config: PollConfig, *, message_id: str, now: datetime) -> PollState:
    """The poll a command asks for, or ``PollUsageError`` saying what is wrong with it."""
    question, *options = call.positional or ("",)
    if not question.strip() or len(question) > MAX_QUESTION:
        raise PollUsageError(f"a poll needs a question of at most {MAX_QUESTION} characters")
    options = [o.strip() for o in options]
    if not 2 <= len(options) <= MAX_POLL_OPTIONS or not all(options):
        raise PollUsageError(f"a poll needs 2 to {MAX_POLL_OPTIONS} options")
    if any(len(o) > MAX_LABEL for o in options) or len(set(options)) != len(options):
        raise PollUsageError(f"options are distinct and at most {MAX_LABEL} characters")
    unknown = sorted(set(call.options) - {"closes"})
    if unknown:
        raise PollUsageError(f"unknown option --{unknown[0]}")
    closes = call.options.get("closes")
    after = parse_duration(closes) if closes else None
    if after is None and config.default_close_minutes is not None:
        after = timedelta(minutes=config.default_close_minutes)
    return PollState(
        message_id=message_id,
        question=question.strip(),
        options=tuple(options),
        author_id=call.actor.id,
        closes_at=now + after if after else None,
    )


def vote(poll: PollState, member_id: str, option_id: str) -> PollState:
    """The member's vote is now ``option_id`` (replacing any earlier one); a closed poll is as it was."""
    if poll.closed or option_id not in poll.option_ids() or poll.votes.get(member_id) == option_id:
        return poll
    return poll.model_copy(
        update={"votes": {**poll.votes, member_id: option_id}, "revision": poll.revision + 1}
    )


def close(poll: PollState) -> PollState:
    return poll if poll.closed else poll.model_copy(update={"closed": True, "revision": poll.revision + 1})


def tally(poll: PollState) -> dict[str, int]:
    """Votes per option id, every option listed (zero included), in the poll's order."""
    counts = dict.fromkeys(poll.option_ids(), 0)
    for option_id in poll.votes.values():
        if option_id in counts:
            counts[option_id] += 1
    return counts


def blocks(poll: PollState) -> list[dict[str, Any]]:
    """The message's blocks: the poll with its counts, and the author's close button while it is open."""
    counts = tally(poll)
    shown: list[dict[str, Any]] = [
        {
            "type": "poll",
            "action_id": VOTE,
            "question": poll.question,
            "options": [
                {"id": i, "label": label, "count": counts[i]}
                for i, label in zip(poll.option_ids(), poll.options, strict=True)
            ],
            "closed": poll.closed,
            "closes_at": poll.closes_at.isoformat() if poll.closes_at else None,
        }
    ]
    if not poll.closed:
        button = {"action_id": CLOSE, "label": "Close poll", "style": "danger"}
        shown.append({"type": "buttons", "buttons": [button]})
    return shown


def text(poll: PollState) -> str:
    """The plain fallback (what a client without blocks shows, and moderation reads)."""
    counts = tally(poll)
    lines = [f"Poll{' (closed)' if poll.closed else ''}: {poll.question}"]
    lines += [f"- {label}: {counts[i]}" for i, label in zip(poll.option_ids(), poll.options, strict=True)]
    return "\n".join(lines)


extension: Extension[PollConfig] = Extension(
    Manifest(
        id="poll",
        version="1.0.0",
        name="Poll",
        description='Polls in a chat: /poll "Question?" "A" "B"; one changeable vote per member, '
        "live counts, closed by its author or at a time.",
        events=("SlashCommandInvoked", "InteractionSubmitted"),
        capabilities=frozenset({"messages:write", "messages:interactive", "messages:ephemeral"}),
        commands=(SlashCommand(name="poll", description="Start a poll", usage=USAGE),),
        config_model=PollConfig,
    )
)


def _key(message_id: str) -> str:
    return f"poll:{message_id}"


def _show(ctx: Context[PollConfig], poll: PollState) -> None:
    ctx.update_message(poll.message_id, text=text(poll), blocks=blocks(poll), revision=poll.revision)


def _close_due(ctx: Context[PollConfig], now: datetime, *, skip: str | None = None) -> None:
    """Mark closed every poll of the chat whose time has come (the lazy close), but ``skip``."""
    open_polls: dict[str, str] = ctx.store.get(OPEN_KEY) or {}
    due = [m for m, at in open_polls.items() if m != skip and datetime.fromisoformat(at) <= now]
    for message_id in due:
        stored = ctx.store.get(_key(message_id))
        if stored is not None and not stored.get("closed"):
            _show(ctx, _close(ctx, message_id))
    if due:
        ctx.store.update(
            OPEN_KEY, lambda now_open: {k: v for k, v in (now_open or {}).items() if k not in due}
        )


@extension.command("poll")
def started(call: CommandCall, ctx: Context[PollConfig]) -> None:
    now = ctx.event.metadata.occurred_at
    _close_due(ctx, now)
    try:
        draft = start(call, ctx.config, message_id="", now=now)
    except PollUsageError as exc:
        ctx.send_ephemeral(call.actor.id, f"{exc}. Usage: /poll {USAGE}")
        return
    message_id = ctx.send(text(draft), blocks=blocks(draft))
    poll = draft.model_copy(update={"message_id": message_id})
    ctx.store.put(_key(message_id), poll.model_dump(mode="json"))
    if poll.closes_at is not None:
        closes_at = poll.closes_at.isoformat()
        ctx.store.update(OPEN_KEY, lambda open_polls: {**(open_polls or {}), message_id: closes_at})


@extension.on("InteractionSubmitted")
def interacted(event: Envelope[InteractionSubmitted], ctx: Context[PollConfig]) -> None:
    data, now = event.data, event.metadata.occurred_at
    _close_due(ctx, now, skip=data.message_id)
    if ctx.store.get(_key(data.message_id)) is None:
        return  # not a poll of this chat's (or long forgotten)
    if data.action_id == CLOSE:
        _closed_by(ctx, data.message_id, data.participant_id, now)
        return
    option = data.values.get("option")
    if data.action_id != VOTE or not isinstance(option, str):
        return

    def voted(stored: Any) -> dict[str, Any]:
        poll = PollState.model_validate(stored)
        poll = close(poll) if poll.due(now) else vote(poll, data.participant_id, option)
        return poll.model_dump(mode="json")

    before = PollState.model_validate(ctx.store.get(_key(data.message_id)))
    after = PollState.model_validate(ctx.store.update(_key(data.message_id), voted))
    if after != before:
        _show(ctx, after)


def _closed_by(ctx: Context[PollConfig], message_id: str, member_id: str, now: datetime) -> None:
    poll = PollState.model_validate(ctx.store.get(_key(message_id)))
    if poll.closed:
        return
    if member_id != poll.author_id and not poll.due(now):
        ctx.send_ephemeral(member_id, "Only the poll's author can close it.")
        return
    poll = _close(ctx, message_id)
    ctx.store.update(
        OPEN_KEY, lambda open_polls: {k: v for k, v in (open_polls or {}).items() if k != message_id}
    )
    _show(ctx, poll)


def _close(ctx: Context[PollConfig], message_id: str) -> PollState:
    """Close the stored poll by compare-and-set, as votes are written: a vote committed since this
    delivery read the poll is kept in its final counts, never overwritten."""

    def closed(stored: Any) -> dict[str, Any]:
        return close(PollState.model_validate(stored)).model_dump(mode="json")

    return PollState.model_validate(ctx.store.update(_key(message_id), closed))
