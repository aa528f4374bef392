"""What the SDK counts of each extension (its usage metrics) and what operators read back: the
names, the list prices of the estimate and the answer's model (the API, the dashboard and the Python
client share them)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

USAGE_METRICS = ("ExtensionInvocations", "ExtensionEvents", "ExtensionWrites")
USAGE_USD = {
    # one Lambda request and its delivery's three SQS requests (send, receive, delete)
    "ExtensionInvocations": 0.2e-6 + 3 * 0.4e-6,
    # one write request unit (rows of 1 KB or less)
    "ExtensionWrites": 0.625e-6,
}
"""The estimate of an extension's $: list prices (bench/prices.json, checked by a test) times what
it reports; Lambda duration and reads are left out."""
HOOK_CALL_USD = 0.2e-6
"""One synchronous invocation of a hook (a Lambda request, no queue), at the same list price."""


class ExtensionUsage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    extension_id: str
    day: date = Field(description="The UTC day the figures cover.")
    invocations: int = Field(description="Invocations of the extension's function (`ExtensionInvocations`).")
    events: int = Field(description="Events its handlers ran on (`ExtensionEvents`).")
    writes: int = Field(description="Writes through its store, delivery claims included (`ExtensionWrites`).")
    estimated_usd: float = Field(
        description="An invocation with its delivery's three SQS requests at $0.0000014, a write at "
        "$0.000000625 (list prices); duration and reads left out."
    )


class ExtensionChatUsage(BaseModel):
    """What an extension cost one chat on a UTC day, folded from that chat's event log."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    extension_id: str
    chat_id: str
    day: date = Field(description="The UTC day the figures cover (by each event's `occurred_at`).")
    events: int = Field(
        description="Events of the day its bus rule was handed: those its rule's pattern matches, as the "
        "relay checks it, so only while it was enabled on the chat (`metadata.extensions`). Not counted: "
        "what reaches the bus without a row in the chat's log (the catalog's ephemeral events, such as "
        "`SlashCommandInvoked`, and `ExtensionEvent`s other extensions put there; a refused post's "
        "`MessageRejected`; `AIResponseStarted`), and past events a backfill hands it from the log."
    )
    hook_calls: int = Field(
        description="Calls of its hooks the log records (`MessageModerated` and `TurnValidationRequested` "
        "naming it, and `ExtensionShadowOutput` of such a ruling in shadow): one synchronous invocation "
        "each. A read filter's calls (`on_read`) are not in the log and not counted."
    )
    invocations: int = Field(
        description="Invocations of its function for this chat: one per delivered event (its queue hands "
        "up to 10 events to one invocation, so a burst costs fewer: an upper bound) plus `hook_calls`."
    )
    writes: int = Field(
        description="Writes the log records on its behalf that day: its bot's messages and their updates, "
        "the changes the gateway applied for it, its moderation verdicts and refused requests. Writes to "
        "its private store (and its delivery claims) are not recorded per chat: they are in "
        "`GET /extensions/{extension_id}/usage` for the whole day, not here."
    )
    writes_by_type: dict[str, int] = Field(description="`writes`, by the log entry's event type.")
    estimated_usd: float = Field(
        description="`events` at $0.0000014 (a Lambda request and its delivery's three SQS requests), "
        "`hook_calls` at $0.0000002 (a Lambda request) and `writes` at $0.000000625 (one write request "
        "unit each: a floor, as a log entry may take more); duration, reads and its private store's "
        "writes left out."
    )
    truncated: bool = Field(
        description="The day's log was longer than one answer reads (10,000 entries; 1,000 for each chat "
        "of the day's list): the figures stop at `last_sequence` and are a lower bound."
    )
    last_sequence: int = Field(description="The last sequence of the chat's log that was read (0: none).")
    final: bool = Field(
        description="The day is over (and 5 minutes past, for clocks' skew): these figures no longer change."
    )


class ExtensionChatsUsage(BaseModel):
    """The chats where an extension cost most on a UTC day, each folded from its log."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    extension_id: str
    day: date
    items: list[ExtensionChatUsage] = Field(
        description="The chats it was handed an event or wrote in, highest `estimated_usd` first (then by "
        "chat id), at most `limit`."
    )
    active_chats: int = Field(
        description="Chats that stored a message that day (the active-day index): a chat with events "
        "but no message that day is not among them; ask for it by id."
    )
    folded: int = Field(description="How many of them were folded (by chat id, at most 100).")
    truncated: bool = Field(description="More chats were active than were folded: the list may miss some.")
