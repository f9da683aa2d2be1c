"""Config of the HubSpot sink (docs/platforms.md §8.1)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import FieldsSinkConfig

# Inputs per batch call (§8.1: 100, load-tested by others; HubSpot refuses more with 400).
MAX_INPUTS = 100


class HubSpotSinkConfig(FieldsSinkConfig):
    type: Literal["hubspot"]
    access_token: SecretStr  # a private app's token: crm.objects.contacts.read/write (+ lists)
    # Contact properties are prefix + field (rfm_segment, rfm_cell, ...), in this property group.
    property_prefix: str = "rfm_"
    property_group: str = "rfm"
    # Segment -> MANUAL list id; or list_prefix: one MANUAL list per segment, created if missing.
    lists: dict[str, str] | None = None
    list_prefix: str | None = None
    # Upsert creates contacts for emails HubSpot does not know, which may count as marketing contacts
    # (billed): off by default, those customers are skipped.
    add_missing: bool = False
    base_url: str = "https://api.hubapi.com"
    # Upserts go 100 a call whatever the batch; lists take one call per list and batch, so large
    # batches keep those few (benchmarks/email_platforms.py).
    batch_size: int = Field(default=10_000, ge=1, le=10_000)
    # Private apps: 100 requests per 10 s on Free and Starter, 190 on Professional and Enterprise (§8.1).
    requests_per_10_seconds: int = Field(default=100, ge=1, le=250)
    # The portal's daily limit (250,000 on Free/Starter); rfmsync stops a run before it passes it.
    daily_limit: int = Field(default=250_000, ge=1)
    timeout_seconds: float = Field(default=60.0, gt=0, le=300)

    @field_validator("property_prefix", "property_group")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", value):
            raise ValueError("expected lower-case letters, digits and _, starting with a letter (HubSpot's "
                             "internal names)")
        return value

    @field_validator("lists")
    @classmethod
    def _list_ids(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for segment, list_id in (value or {}).items():
            if not list_id.isdigit():
                raise ValueError(f"lists.{segment}: {list_id!r} is not a HubSpot list id (digits)")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> HubSpotSinkConfig:
        if self.lists is not None and self.list_prefix is not None:
            raise ValueError("give lists or list_prefix, not both")
        return self

    def property_name(self, field: str) -> str:
        return f"{self.property_prefix}{field.removeprefix('rfm_')}"
