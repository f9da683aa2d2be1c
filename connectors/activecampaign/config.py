"""Config of the ActiveCampaign sink (docs/platforms.md §8.2)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from rfmsync.connectors.base import FieldsSinkConfig

# Contacts per bulk import request (§8.2: up to 250, payload under 400,000 bytes).
MAX_IMPORT = 250


class ActiveCampaignSinkConfig(FieldsSinkConfig):
    type: Literal["activecampaign"]
    # As shown in Settings -> Developer, e.g. https://acme.api-us1.com (never constructed: §8.2).
    base_url: str
    api_token: SecretStr
    # Each pushed field is a custom text field "RFM segment", "RFM cell", ... (created if missing),
    # personalization tag RFM_SEGMENT, RFM_CELL, ...
    # Tags "RFM: Champions" too: adding is cheap, but removing one costs two calls per contact
    # (find the contact's tag link, then delete it) at 5 requests/second.
    tags: bool = False
    tag_prefix: str = "RFM: "
    # Bulk import creates contacts ActiveCampaign does not know; off by default, they are skipped.
    add_missing: bool = False
    batch_size: int = Field(default=MAX_IMPORT, ge=1, le=10_000)
    # ActiveCampaign allows 5 requests per second per account, shared by every key (§8.2).
    requests_per_second: int = Field(default=5, ge=1, le=5)
    poll_seconds: float = Field(default=2.0, ge=0, le=300)
    max_wait_seconds: float = Field(default=900.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0, le=300)

    @field_validator("base_url")
    @classmethod
    def _account_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected the account's API URL from Settings -> Developer, like "
                             "https://acme.api-us1.com")
        return value.strip().rstrip("/").removesuffix("/api/3")

    @field_validator("tag_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("tag_prefix must not be blank: it is how rfmsync finds its own tags")
        return value

    def perstag(self, field: str) -> str:
        return f"RFM_{field.removeprefix('rfm_').upper()}"
