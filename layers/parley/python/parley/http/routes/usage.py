"""Per-extension usage for operators: invocations, events, writes and estimated $ of a UTC day."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BeforeValidator

from parley.extensions.usage import ExtensionUsage
from parley.http.context import GROUPS_CLAIM, OPERATORS_GROUP, require_operator
from parley.http.contract import SIGNED_IN, ok, responses
from parley.root import usage_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    """YYYY-MM-DD only: pydantic alone would also read ``0`` as 1970-01-01 (as the analytics routes)."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


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
            422: "`day` is not a UTC day, YYYY-MM-DD (`validation_error`).",
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
