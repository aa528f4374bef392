"""Per-extension usage for operators: invocations, events, writes and estimated $ of a UTC day, in all
chats (the SDK's metrics) or in one (folded from its log)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import AfterValidator, BeforeValidator

from parley.extensions.usage import ExtensionChatsUsage, ExtensionChatUsage, ExtensionUsage
from parley.http.context import GROUPS_CLAIM, OPERATORS_GROUP, require_operator
from parley.http.contract import SIGNED_IN, ChatId, ExtensionId, ok, responses
from parley.root import chat_usage_service, usage_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    """YYYY-MM-DD only: pydantic alone would also read ``0`` as 1970-01-01 (as the analytics routes)."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


def _inside_the_calendar(value: date) -> date:
    """A day with a day on each side: its window (and the clocks' skew around it) stays a datetime."""
    if not date.min < value < date.max:
        raise ValueError(f"a day after {date.min} and before {date.max}")
    return value


Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_inside_the_calendar)]


@router.get(
    "/extensions/<extension_id>/usage",
    summary="What an extension's function did on a UTC day, and its estimated cost (operators)",
    description="The SDK's usage metrics of the extension (`ExtensionInvocations`, `ExtensionEvents`, "
    "`ExtensionWrites`, every function reporting them), summed over the day, read back from "
    "CloudWatch. On the local stack nothing is sent to CloudWatch: the figures are 0. Only members of "
    f"the `{OPERATORS_GROUP}` group (`{GROUPS_CLAIM}` claim) may call it: 403 for others.",
    operation_id="extension_usage",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The day's figures"),
        {
            403: f"The caller is not in the `{OPERATORS_GROUP}` group (`forbidden`).",
            404: "No extension of that id is registered (`extension_not_found`).",
            422: "`day` is not a UTC day, YYYY-MM-DD, or is the calendar's first or last "
            "(`validation_error`).",
            503: "CloudWatch did not answer (`metrics_unavailable`); try again.",
        },
    ),
)
def extension_usage(
    extension_id: str,
    day: Annotated[Day | None, Query(description="The UTC day, YYYY-MM-DD (default: today).")] = None,
) -> ExtensionUsage:
    require_operator(router.current_event.raw_event, to="see an extension's usage")
    return usage_service().daily(extension_id, day)


@router.get(
    "/extensions/<extension_id>/usage/chats",
    summary="The chats where an extension cost most on a UTC day, each folded from its log (operators)",
    description="The chats that stored a message that day (the active-day index), at most 100 of them "
    "(by chat id; `truncated` past that), each folded as `GET /extensions/{extension_id}/usage/chats/"
    "{chat_id}` folds it, reading at most 1,000 log entries of each (a busier chat is listed "
    "`truncated`: ask for it by id); those it was handed an event or wrote in, highest estimated $ "
    "first. A finished day's chats are cached. Only members of the "
    f"`{OPERATORS_GROUP}` group (`{GROUPS_CLAIM}` claim) may call it: 403 for others.",
    operation_id="extension_chats_usage",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The day's costliest chats"),
        {
            403: f"The caller is not in the `{OPERATORS_GROUP}` group (`forbidden`).",
            404: "No extension of that id is registered (`extension_not_found`).",
            422: "`day` is not a UTC day, YYYY-MM-DD (or is the calendar's first or last), `limit` is "
            "not 1 to 100, or the id is malformed "
            "(`validation_error`).",
            503: "A chat's log was too busy to read right now (`contention`); try again.",
        },
    ),
)
def extension_chats_usage(
    extension_id: ExtensionId,
    day: Annotated[Day | None, Query(description="The UTC day, YYYY-MM-DD (default: today).")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Chats in the list.")] = 20,
) -> ExtensionChatsUsage:
    require_operator(router.current_event.raw_event, to="see an extension's usage")
    return chat_usage_service().top_chats(extension_id, day, limit)


@router.get(
    "/extensions/<extension_id>/usage/chats/<chat_id>",
    summary="What an extension cost one chat on a UTC day, folded from the chat's log (operators)",
    description="The events the extension's bus rule was handed in this chat (its rule's pattern on each "
    "event of the day, as the relay checks it: only while it was enabled there), its hooks' calls the "
    "log records, its invocations (one per event, an upper bound as its queue batches up to 10, plus "
    "the hook calls), the writes the log records on its behalf and their estimated cost. Read from the "
    "chat's log when asked, so counting costs a post nothing; at "
    "most 10,000 log entries an answer (`truncated` past that); a finished day's answer is cached. Its "
    "private store's writes are per extension only (`GET /extensions/{extension_id}/usage`). Only "
    f"members of the `{OPERATORS_GROUP}` group (`{GROUPS_CLAIM}` claim) may call it: 403 for others.",
    operation_id="extension_chat_usage",
    security=SIGNED_IN,
    responses=responses(
        ok(200, "The chat's figures of the day"),
        {
            403: f"The caller is not in the `{OPERATORS_GROUP}` group (`forbidden`).",
            404: "No extension of that id is registered (`extension_not_found`), or no chat of that id "
            "(`chat_not_found`).",
            422: "`day` is not a UTC day, YYYY-MM-DD (or is the calendar's first or last), or an id is "
            "malformed (`validation_error`).",
            503: "The chat's log was too busy to read right now (`contention`); try again.",
        },
    ),
)
def extension_chat_usage(
    extension_id: ExtensionId,
    chat_id: ChatId,
    day: Annotated[Day | None, Query(description="The UTC day, YYYY-MM-DD (default: today).")] = None,
) -> ExtensionChatUsage:
    require_operator(router.current_event.raw_event, to="see an extension's usage")
    return chat_usage_service().chat_daily(extension_id, chat_id, day)
