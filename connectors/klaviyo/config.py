"""Config of the Klaviyo sink (docs/platforms.md §5)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import FieldsSinkConfig

# The newest revision seen (§5.1); Klaviyo dates them the 15th of a quarter month.
REVISION = "2026-10-15"
# Profiles per bulk import job, Klaviyo's limit (§5.2).
MAX_IMPORT = 10_000


class KlaviyoSinkConfig(FieldsSinkConfig):
    type: Literal["klaviyo"]
    api_key: SecretStr
    revision: str = Field(default=REVISION, pattern=r"^\d{4}-\d{2}-\d{2}(\.\w+)?$")
    # Profile properties are prefix + field: rfm_segment, rfm_cell, ...
    property_prefix: str = "rfm_"
    # Segment -> list id; or list_prefix: one list per segment, named prefix + segment, created if missing.
    lists: dict[str, str] | None = None
    list_prefix: str | None = None
    # Klaviyo bills by profiles: customers without one are skipped unless this is set.
    add_missing: bool = False
    base_url: str = "https://a.klaviyo.com"
    # One bulk import job (10,000 profiles) per batch: at 1,000 a first push of 100,000 took 2,422
    # requests instead of 1,162 (benchmarks/email_platforms.py), one job and 11 list calls a batch.
    batch_size: int = Field(default=MAX_IMPORT, ge=1, le=MAX_IMPORT)
    # A batch with this many profile updates or more goes as one bulk import job; fewer are PATCHed
    # one by one (Klaviyo: bulk import "should not be used for updating a small number of profiles").
    bulk_threshold: int = Field(default=100, ge=1)
    poll_seconds: float = Field(default=2.0, ge=0, le=300)
    max_wait_seconds: float = Field(default=900.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0, le=300)

    @field_validator("property_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_ ]{0,30}", value):
            raise ValueError("expected a short prefix of letters, digits, _ or spaces, like rfm_")
        return value

    @model_validator(mode="after")
    def _lists(self) -> KlaviyoSinkConfig:
        if self.lists is not None and self.list_prefix is not None:
            raise ValueError("give lists or list_prefix, not both")
        if self.list_prefix is not None and not self.list_prefix.strip():
            raise ValueError("list_prefix must not be blank: it is how rfmsync finds its own lists")
        return self

    def property_name(self, field: str) -> str:
        """segment -> rfm_segment, rfm_cell -> rfm_cell (not rfm_rfm_cell), r_score -> rfm_r_score."""
        return f"{self.property_prefix}{field.removeprefix('rfm_')}"
