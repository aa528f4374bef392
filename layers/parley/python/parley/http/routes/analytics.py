"""Conversation analytics: one chat's (members) and the daily summary across chats (operators).

The routes parse, authorize, ask ``AnalyticsService`` and map its report to JSON or CSV; the reports
themselves are computed in ``parley.services.analytics`` without the extension SDK.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, BeforeValidator

from parley.extensions.builtin import _analytics_model as model
from parley.http.context import GROUPS_CLAIM, OPERATORS_GROUP, identity_of, require_operator
from parley.http.contract import SIGNED_IN, ChatId, responses
from parley.root import analytics_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

CSV = "text/csv; charset=utf-8"

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
    report = analytics_service().chat_report(identity_of(router.current_event.raw_event), chat_id)
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
    require_operator(router.current_event.raw_event, to="see the summary")
    report = analytics_service().summary(start, end)
    period = report.period
    return _respond(report, format, f"parley-analytics-summary-{period.start}-{period.end}")
