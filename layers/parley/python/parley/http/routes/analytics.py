"""Conversation analytics: one chat's (members) and the daily summary across chats (operators).

Both read what the `analytics` extension keeps in its own rows (``analytics#<chat id>`` and
``analytics#_rollup``) through the extension state port; neither touches the extension's code path.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, BeforeValidator

from parley.clock import utc_now
from parley.errors import ForbiddenError, InvalidRequestError
from parley.extensions.builtin import _analytics_model as model
from parley.extensions.builtin.analytics import AnalyticsConfig
from parley.extensions.builtin.analytics import extension as analytics
from parley.extensions.sdk import Store
from parley.http.context import identity_of
from parley.http.contract import SIGNED_IN, ChatId, responses
from parley.services.container import chat_service, extension_runtime

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

OPERATORS_GROUP = "operators"
"""Operators are the members of this Cognito group: the ID token's ``cognito:groups`` claim. A group
is set by an administrator only; a ``custom:`` attribute could be writable by the user."""
GROUPS_CLAIM = "cognito:groups"
CSV = "text/csv; charset=utf-8"
READ_CONCURRENCY = 8

Format = Annotated[
    Literal["json", "csv"],
    Query(description="`csv`: RFC 4180, header row `section,subject,metric,value` (README, Analytics)."),
]


def _iso_day(value: object) -> object:
    """A day as the document says it, YYYY-MM-DD: pydantic alone would also read ``0`` as 1970-01-01."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
Day = Annotated[date, BeforeValidator(_iso_day)]


def _claims(raw_event: dict[str, Any]) -> dict[str, Any]:
    authorizer = (raw_event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return claims if isinstance(claims, dict) else {}


def groups_of(raw_event: dict[str, Any]) -> set[str]:
    """The caller's groups. API Gateway hands an array claim to the Lambda as one string, written
    ``[a b]`` by HTTP APIs (``a,b`` or a bare ``a`` elsewhere); a list is taken as it is."""
    claim = _claims(raw_event).get(GROUPS_CLAIM)
    if isinstance(claim, list):
        return {str(g) for g in claim}
    if not isinstance(claim, str):
        return set()
    text = claim.strip().removeprefix("[").removesuffix("]")
    return {g.strip("\"' ") for g in text.replace(",", " ").split() if g.strip("\"' ")}


def require_operator(raw_event: dict[str, Any]) -> None:
    identity_of(raw_event)  # 401 first
    if OPERATORS_GROUP not in groups_of(raw_event):
        raise ForbiddenError(f"only operators (the `{OPERATORS_GROUP}` group) may see the summary")


def _read(store: Store, keys: list[str]) -> dict[str, Any]:
    """Several of the extension's items, a few at a time (each is one small GetItem)."""
    if len(keys) <= 1:
        return {k: store.get(k) for k in keys}
    with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(keys))) as pool:
        return dict(zip(keys, pool.map(store.get, keys), strict=True))


def _respond(report: BaseModel, fmt: str, filename: str) -> Response[Any]:
    if fmt == "csv":
        return Response(
            status_code=200,
            content_type=CSV,
            body=model.to_csv(report.model_dump(mode="json")),
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return Response(status_code=200, content_type="application/json", body=report)


def _both(described: type[BaseModel], what: str) -> dict[int, OpenAPIResponse]:
    return {
        200: {
            "description": what,
            "content": {
                "application/json": {"model": described},
                CSV.split(";")[0]: {"schema": {"type": "string"}},
            },
        }
    }


@router.get(
    "/chats/<chat_id>/analytics",
    summary="The chat's conversation analytics, as JSON or CSV (members)",
    description="Messages, turns, AI response times, engagement, session and a daily trend, from the "
    "`analytics` extension. `period` says which events are covered (older ones expire after the "
    "chat's `retention_days`). Outsiders get 404 as on every chat route.",
    operation_id="chat_analytics",
    security=SIGNED_IN,
    responses=responses(
        _both(model.ChatAnalytics, "The chat's analytics"),
        {404: None, 422: "`chat_id` or `format` breaks the schema (`validation_error`)."},
    ),
)
def chat_analytics(chat_id: ChatId, format: Format = "json") -> Response[Any]:
    chat = chat_service().get_chat(identity_of(router.current_event.raw_event), chat_id)
    install = chat.extensions.get(analytics.id)
    config = analytics.config_of(install.config) if install else AnalyticsConfig()
    status: Literal["enabled", "disabled", "circuit_open", "not_installed"] = (
        "not_installed"
        if install is None
        else "enabled"
        if install.enabled
        else "circuit_open"
        if install.disabled_reason == "circuit_open"
        else "disabled"
    )
    store = extension_runtime().state(analytics.id, chat_id)
    keys = [model.block_key(b) for b in model.blocks_through(chat.last_event_sequence)]
    facts = model.merge_blocks(_read(store, keys).values())
    report = model.chat_report(
        chat_id, facts, status=status, retention_days=config.retention_days, now=utc_now()
    )
    return _respond(report, format, f"parley-analytics-{chat_id}")


@router.get(
    "/analytics/summary",
    summary="Daily figures across all chats over a date range, as JSON or CSV (operators)",
    description=f"Completion rate, totals and a day-by-day trend. `from` and `to` are UTC days "
    f"(default: the last 30 days; at most {model.MAX_SUMMARY_DAYS} days). Only members of the "
    f"`{OPERATORS_GROUP}` group (`{GROUPS_CLAIM}` claim) may call it: 403 for others.",
    operation_id="analytics_summary",
    security=SIGNED_IN,
    responses=responses(
        _both(model.AnalyticsSummary, "The summary"),
        {
            403: f"The caller is not in the `{OPERATORS_GROUP}` group (`forbidden`).",
            422: "A query parameter breaks the schema (`validation_error`), `from` is after `to`, or "
            f"the range is longer than {model.MAX_SUMMARY_DAYS} days (`invalid_request`).",
        },
    ),
)
def analytics_summary(
    start: Annotated[Day | None, Query(alias="from", description="First UTC day, YYYY-MM-DD.")] = None,
    end: Annotated[Day | None, Query(alias="to", description="Last UTC day, YYYY-MM-DD.")] = None,
    format: Format = "json",
) -> Response[Any]:
    require_operator(router.current_event.raw_event)
    now = utc_now()
    end = end or now.date()
    start = start or end - timedelta(days=29)
    if start > end:
        raise InvalidRequestError("`from` must not be after `to`", field="from")
    if (end - start).days + 1 > model.MAX_SUMMARY_DAYS:
        raise InvalidRequestError(f"at most {model.MAX_SUMMARY_DAYS} days at a time", field="to")
    rollup = extension_runtime().state(analytics.id, model.ROLLUP_PARTITION)
    keys = [k for day in model.days_between(start, end) for k in model.rollup_keys(day)]
    report = model.summary_report(start, end, _read(rollup, keys), now=now)
    return _respond(report, format, f"parley-analytics-summary-{start}-{end}")
