"""`GET /extensions/{extension_id}/usage` on moto: the SDK's usage metrics of one extension, summed
over a UTC day across the functions reporting them, with their estimate; operators only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from parley.extensions.usage import USAGE_USD
from parley.settings import settings
from tests.support.api import Api, User, assert_error


@dataclass(frozen=True)
class Operator(User):
    groups: str = "[operators]"

    @property
    def claims(self) -> dict[str, str]:
        return {**super().claims, "cognito:groups": self.groups}


OLGA = Operator("user-olga", "Olga")


def report(extension_id: str, service: str, at: datetime, invocations: int, events: int, writes: int) -> None:
    """What the SDK's EMF line becomes in CloudWatch (namespace Parley, extension_id and service)."""
    cloudwatch = boto3.client("cloudwatch", region_name=settings().region)
    dimensions = [{"Name": "extension_id", "Value": extension_id}, {"Name": "service", "Value": service}]
    cloudwatch.put_metric_data(
        Namespace="Parley",
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value, "Unit": "Count"}
            for name, value in (
                ("ExtensionInvocations", invocations),
                ("ExtensionEvents", events),
                ("ExtensionWrites", writes),
            )
        ],
    )


def test_an_operator_reads_an_extensions_usage_of_a_day(api: Api) -> None:
    # Given the welcome extension's reports from two functions today, one yesterday, and another
    # extension's
    today = datetime.now(UTC).replace(hour=0, minute=30, second=0, microsecond=0)
    report("welcome", "parley-ext_welcome", today, 3, 4, 6)
    report("welcome", "parley-welcome-blue", today.replace(hour=1), 2, 2, 0)
    report("welcome", "parley-ext_welcome", today - timedelta(days=1), 50, 50, 50)
    report("analytics", "parley-ext_analytics", today, 70, 70, 70)

    # When an operator asks for today's
    answer = api.get("/extensions/welcome/usage", OLGA, query={"day": today.date().isoformat()})

    # Then the day's figures of both its functions, and no one else's
    assert answer.status == 200, answer.text
    usage = answer.json
    assert (usage["invocations"], usage["events"], usage["writes"]) == (5, 6, 6)
    assert usage["day"] == today.date().isoformat()
    expected = 5 * USAGE_USD["ExtensionInvocations"] + 6 * USAGE_USD["ExtensionWrites"]
    assert usage["estimated_usd"] == pytest.approx(expected, abs=1e-6)


def test_usage_is_for_operators_and_registered_extensions(api: Api, alice: User) -> None:
    assert_error(api.get("/extensions/welcome/usage", alice), 403, "forbidden")
    assert_error(api.get("/extensions/nobody/usage", OLGA), 404, "extension_not_found")
    assert_error(api.get("/extensions/welcome/usage", OLGA, query={"day": "1"}), 422, "validation_error")
    quiet = api.get("/extensions/welcome/usage", OLGA)
    assert quiet.status == 200, quiet.text
    assert (quiet.json["invocations"], quiet.json["estimated_usd"]) == (0, 0.0)
