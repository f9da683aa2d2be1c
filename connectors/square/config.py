"""Config of the Square source (docs/platforms.md §3)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from rfmsync.connectors.base import SourceConfig

SQUARE_VERSION = "2026-09-16"  # the newest seen (§3); pinned so an app default cannot change answers
MAX_LIMIT = 1_000  # orders per search page (§3.1)
# Offline POS orders reach Square up to 72 hours late (§3.1): re-read at least that much.
LOOKBACK_MINUTES = 72 * 60


class SquareSourceConfig(SourceConfig):
    type: Literal["square"]
    access_token: SecretStr
    # Location ids to read; default: every active location of the account.
    locations: list[str] | None = None
    square_version: str = Field(default=SQUARE_VERSION)
    base_url: str = "https://connect.squareup.com"
    limit: int = Field(default=500, ge=1, le=MAX_LIMIT)
    lookback_minutes: int | None = Field(default=LOOKBACK_MINUTES, ge=0)
    # A customer's email and phone are kept this long in the state before they are asked for again.
    customer_cache_days: int = Field(default=7, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0, le=300)

    @field_validator("square_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("expected a Square API version like 2026-09-16")
        return value

    @field_validator("locations")
    @classmethod
    def _locations(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("leave locations out for every location, or name at least one")
        return value
