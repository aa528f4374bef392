"""The deploy-time settings, read once from CDK context (cdk.json or ``-c key=value``) and validated.

Context values given on the command line arrive as strings and those in cdk.json as JSON, so
each field accepts both ("false" and false); a bad value fails synthesis with the setting named.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KEYS = (
    "deletion_protection",
    "removal_policy",
    "log_retention_days",
    "user_pool_id",
    "user_pool_client_id",
    "alarm_email",
    "api_throttle_rate",
    "api_throttle_burst",
    "websocket_throttle_rate",
    "websocket_throttle_burst",
)
# CloudWatch Logs accepts only these retention periods (in days)
_RETENTION_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class ConfigError(ValueError):
    """A context setting is missing its partner, unknown or out of range."""


class StackConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    deletion_protection: bool = Field(True, description="DynamoDB deletion protection on every table.")
    removal_policy: Literal["retain", "destroy"] = Field(
        "retain", description="What `cdk destroy` does to tables, the user pool and logs."
    )
    log_retention_days: int = Field(30, description="CloudWatch Logs retention of every log group.")
    user_pool_id: str | None = Field(None, description="Use this Cognito user pool instead of creating one.")
    user_pool_client_id: str | None = Field(None, description="The app client of `user_pool_id`.")
    alarm_email: str | None = Field(None, description="Subscribe this address to the alarm topic.")
    api_throttle_rate: float = Field(100, gt=0, description="HTTP API stage steady-state requests/s.")
    api_throttle_burst: int = Field(200, gt=0, description="HTTP API stage burst.")
    websocket_throttle_rate: float = Field(
        100, gt=0, description="WebSocket stage steady-state messages/s (frames and handshakes)."
    )
    websocket_throttle_burst: int = Field(200, gt=0, description="WebSocket stage burst.")

    @field_validator("log_retention_days")
    @classmethod
    def _known_retention(cls, value: int) -> int:
        if value not in _RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts {sorted(_RETENTION_DAYS)} days")
        return value

    @model_validator(mode="after")
    def _pool_and_client_together(self) -> StackConfig:
        if bool(self.user_pool_id) != bool(self.user_pool_client_id):
            raise ValueError("user_pool_id and user_pool_client_id go together")
        return self

    @property
    def removal(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.removal_policy == "retain" else RemovalPolicy.DESTROY

    @property
    def retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @classmethod
    def from_context(cls, node: Node) -> StackConfig:
        values: dict[str, Any] = {}
        for key in KEYS:
            value = node.try_get_context(key)
            if value is not None and value != "":
                values[key] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"bad CDK context: {exc}") from exc
