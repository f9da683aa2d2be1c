"""Config of the Meta custom audiences sink (docs/platforms.md §6)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import AUDIENCE_FIELDS, SinkConfig
from rfmsync.connectors.identifiers import check_phone_region

# Graph API version (§6.1): v26.0 is the newest; v25.0 is served until 2028-07-29.
GRAPH_VERSION = "v26.0"
# Rows per add request: Meta's limit (§6.2).
MAX_ROWS = 10_000


class LookalikeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: str = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Za-z]{2}$")
    # Top share of the country's people most like the seed: 1 % to 20 % in steps of 1 % (§6.3).
    ratio: float = Field(default=0.01, ge=0.01, le=0.20)

    @field_validator("ratio")
    @classmethod
    def _step(cls, value: float) -> float:
        if abs(value * 100 - round(value * 100)) > 1e-9:
            raise ValueError("ratio goes in steps of 0.01 (0.01 to 0.20)")
        return round(value, 2)


class MetaSinkConfig(SinkConfig):
    type: Literal["meta"]
    access_token: SecretStr
    ad_account_id: str = Field(pattern=r"^act_\d+$")
    audience_prefix: str = "RFM: "
    # Only these segments get audiences; default: every segment of the scheme.
    segments: list[str] | None = None
    lookalike: LookalikeConfig | None = None
    # For phone numbers written without a country code (ISO 3166 code, e.g. "DE").
    default_phone_region: str | None = None
    base_url: str = "https://graph.facebook.com"
    api_version: str = Field(default=GRAPH_VERSION, pattern=r"^v\d+\.\d+$")
    batch_size: int = Field(default=MAX_ROWS, ge=1, le=MAX_ROWS)
    # First wait after Meta's throttle (80003 and kin, no Retry-After; §6.5): doubled per attempt.
    throttle_wait_seconds: float = Field(default=60.0, ge=0, le=900)
    timeout_seconds: float = Field(default=60.0, gt=0, le=300)

    _region = field_validator("default_phone_region")(check_phone_region)

    @model_validator(mode="after")
    def _checks(self) -> MetaSinkConfig:
        if not self.audience_prefix.strip():
            raise ValueError("audience_prefix must not be blank: it is how rfmsync finds its own audiences")
        if self.segments is not None and not self.segments:
            raise ValueError("segments: leave it out for every segment, or name at least one")
        if self.lookalike and self.segments is not None and self.lookalike.seed not in self.segments:
            raise ValueError(f"lookalike.seed {self.lookalike.seed!r} must be one of segments, which get audiences")
        return self

    @property
    def fields(self) -> list[str]:
        return list(AUDIENCE_FIELDS)

    def audience_name(self, segment: str) -> str:
        return f"{self.audience_prefix}{segment}"
