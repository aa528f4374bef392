"""The deploy-time settings, read once from CDK context (cdk.json or ``-c key=value``) and validated.

Context values given on the command line arrive as strings and those in cdk.json as JSON, so
each field accepts both ("false" and false); a bad value fails synthesis with the setting named.
A snake_case key that is not a setting (a misspelt ``deletion_protecton``) fails synthesis too,
listing the valid ones; CDK's own keys (``@aws-cdk/...``, ``aws:cdk:...``, hyphenated) are not ours.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parley.settings import Settings

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


# Parley's settings are snake_case; CDK's feature flags and internal keys carry '@', ':' or '-'
_OUR_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
STAGE_PATTERN = r"^[a-z][a-z0-9]{0,11}$"
DEFAULT_STACK_NAME = "Parley"
DEFAULT_PREFIX = "parley"


# a cross-region inference profile id is a model id behind a geography
_PROFILE_ID = re.compile(r"^(us|us-gov|eu|apac|jp|au|ca|global)\.")


def is_inference_profile(model_id: str) -> bool:
    """Whether Bedrock's ``model_id`` names an inference profile (by id or ARN), not a model."""
    return bool(_PROFILE_ID.match(model_id)) or ":inference-profile/" in model_id


def profile_model(profile: str) -> str:
    """The foundation model behind a system inference profile: ``us.amazon.nova-micro-v1:0`` ->
    ``amazon.nova-micro-v1:0`` (from its id or its ARN)."""
    profile_id = profile.split(":inference-profile/", 1)[-1]
    return _PROFILE_ID.sub("", profile_id, count=1)


def scale_reservation(concurrency: int | None, scale: float) -> int | None:
    """A function's reserved concurrency times ``scale``, rounded up (None: no reservation)."""
    if concurrency is None or scale == 0:
        return None
    return max(1, math.ceil(concurrency * scale))


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
    stage: str | None = Field(
        None,
        pattern=STAGE_PATTERN,
        description="Deploy a second copy side by side: every physical name carries it (Parley-<stage>).",
    )
    apigateway_cloudwatch_role: bool = Field(
        False,
        description="Create the account's API Gateway CloudWatch Logs role (AWS::ApiGateway::Account).",
    )
    reserved_concurrency_scale: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Scale every reserved concurrency (0: reserve none, for accounts with a small quota).",
    )
    schema_registry: bool = Field(
        True, description="The EventBridge schema registry (off where a region lacks it, infra/regions.py)."
    )
    ai_provider: Literal["local", "bedrock"] | None = Field(
        None, description="Force this AI provider for every AI participant (default: each one's own)."
    )
    ai_model_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9:./_-]{3,256}$",
        description="Default Bedrock model: a model id, an inference profile id (us.amazon.nova-micro-v1:0) "
        "or a profile ARN (default: the code's, amazon.nova-micro-v1:0).",
    )

    web_hosting: bool = Field(
        False,
        description="Host the web client on S3 + CloudFront (strict CSP) with sign-in through the user "
        "pool's hosted UI (needs web_auth_domain_prefix; not with user_pool_id).",
    )
    web_auth_domain_prefix: str | None = Field(
        None,
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        description="The hosted UI's domain prefix (<prefix>.auth.<region>.amazoncognito.com), unique "
        "in the region.",
    )
    cors_allowed_origins: tuple[str, ...] = Field(
        (),
        description="Browser origins the HTTP API answers CORS for (comma-separated on the command line).",
    )
    self_sign_up: bool = Field(True, description="Let users sign themselves up in the created user pool.")
    cognito_ses_from_email: str | None = Field(
        None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Send the pool's e-mails through SES from this verified address (Cognito's: ~50/day).",
    )
    cognito_ses_region: str | None = Field(
        None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="SES region of `cognito_ses_from_email`."
    )
    http_domain_name: str | None = Field(None, description="Custom domain of the HTTP API.")
    http_certificate_arn: str | None = Field(
        None, description="ACM certificate (this region) of `http_domain_name`."
    )
    websocket_domain_name: str | None = Field(None, description="Custom domain of the WebSocket API.")
    websocket_certificate_arn: str | None = Field(
        None, description="ACM certificate (this region) of `websocket_domain_name`."
    )
    waf_web_acl_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/.+$",
        description="Associate this regional WAF web ACL with the user pool (sign-up and sign-in).",
    )
    log_retention_by_function: dict[str, int] = Field(
        default_factory=dict,
        description="Per-function log retention in days over `log_retention_days` (api=90,turns=7 or JSON).",
    )

    @field_validator("log_retention_days")
    @classmethod
    def _known_retention(cls, value: int) -> int:
        if value not in _RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts {sorted(_RETENTION_DAYS)} days")
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return value

    @field_validator("log_retention_by_function", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                return json.loads(text)
            pairs = [pair.partition("=") for pair in text.split(",") if pair.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("give function=days pairs, comma-separated")
            return {name.strip(): days.strip() for name, _, days in pairs}
        return value

    @field_validator("log_retention_by_function")
    @classmethod
    def _known_functions(cls, value: dict[str, int]) -> dict[str, int]:
        from infra.specs import FUNCTIONS  # the spec list imports the layer: only when this is used

        names = {spec.name for spec in FUNCTIONS}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"no function {unknown}; functions: {sorted(names)}")
        for days in value.values():
            cls._known_retention(days)
        return value

    @model_validator(mode="after")
    def _pool_and_client_together(self) -> StackConfig:
        if bool(self.user_pool_id) != bool(self.user_pool_client_id):
            raise ValueError("user_pool_id and user_pool_client_id go together")
        for api in ("http", "websocket"):
            if bool(getattr(self, f"{api}_domain_name")) != bool(getattr(self, f"{api}_certificate_arn")):
                raise ValueError(f"{api}_domain_name and {api}_certificate_arn go together")
        pool_options = ("cognito_ses_from_email", "waf_web_acl_arn")
        if self.user_pool_id and (any(getattr(self, o) for o in pool_options) or not self.self_sign_up):
            raise ValueError(
                f"{', '.join(pool_options)} and self_sign_up shape the pool the stack creates: "
                "not with user_pool_id"
            )
        if self.web_hosting and (not self.web_auth_domain_prefix or self.user_pool_id):
            raise ValueError("web_hosting needs web_auth_domain_prefix and the user pool the stack creates")
        if self.cognito_ses_region and not self.cognito_ses_from_email:
            raise ValueError("cognito_ses_region needs cognito_ses_from_email")
        return self

    @property
    def log_retentions(self) -> dict[str, logs.RetentionDays]:
        """The functions whose log group keeps its own retention (``log_retention_by_function``)."""
        return {name: _RETENTION_DAYS[days] for name, days in self.log_retention_by_function.items()}

    @property
    def removal(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.removal_policy == "retain" else RemovalPolicy.DESTROY

    @property
    def retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @property
    def model_id(self) -> str:
        """The default Bedrock model AI participants use: ``ai_model_id`` or the code's default."""
        default: str = Settings.default_of("ai_default_model")
        return self.ai_model_id or default

    @property
    def stack_name(self) -> str:
        """``Parley``, or ``Parley-<stage>``: two stages are two stacks."""
        return DEFAULT_STACK_NAME if self.stage is None else f"{DEFAULT_STACK_NAME}-{self.stage}"

    def name(self, base: str = DEFAULT_PREFIX, *, today: str | None = None) -> str:
        """A physical name (bus, registry, API...): today's (``today`` or ``base``), or ``base-<stage>``."""
        if self.stage is None:
            return base if today is None else today
        return f"{base}-{self.stage}"

    @classmethod
    def from_context(cls, node: Node) -> StackConfig:
        unknown = sorted(k for k in node.get_all_context() if _OUR_KEY.match(k) and k not in KEYS)
        if unknown:
            raise ConfigError(
                f"bad CDK context: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(KEYS)}"
            )
        values: dict[str, Any] = {}
        for key in KEYS:
            value = node.try_get_context(key)
            if value is not None and value != "":
                values[key] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"bad CDK context: {exc}") from exc


KEYS: tuple[str, ...] = tuple(StackConfig.model_fields)
