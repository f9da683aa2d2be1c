"""Config of the Google Customer Match sink through the Data Manager API (docs/platforms.md §7.2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import AUDIENCE_FIELDS, SinkConfig
from rfmsync.connectors.identifiers import check_phone_region

# Members per ingest or remove request (§7.2 "Limits").
MAX_MEMBERS = 10_000
_DIGITS = re.compile(r"^\d{1,20}$")

def _account(value: str, what: str) -> str:
    """Google Ads shows ids as 123-456-7890; the API takes the digits."""
    digits = value.replace("-", "").strip()
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"{what} {value!r}: expected the account's number, like 123-456-7890")
    return digits

class GoogleSinkConfig(SinkConfig):
    type: Literal["google"]
    # A service account's key file; without it (and without access_token), application default credentials.
    credentials_file: Path | None = None
    # An OAuth access token minted elsewhere (short-lived; mainly for trying things out).
    access_token: SecretStr | None = None
    operating_account_id: str
    login_account_id: str | None = None
    # Segment -> Customer Match user list id in the operating account.
    user_lists: dict[str, str] = Field(min_length=1)
    default_phone_region: str | None = None
    # Sent as termsOfService on every ingest: Google Ads lets an account hold Customer Match lists
    # only after it accepted the Customer Match terms; set false if yours has not (ingest then fails).
    customer_match_terms_accepted: bool = True
    base_url: str = "https://datamanager.googleapis.com"
    batch_size: int = Field(default=MAX_MEMBERS, ge=1, le=MAX_MEMBERS)
    # The ingestion quota is 300 requests a minute per Cloud project (§7.2); rfmsync stays under it.
    requests_per_minute: int = Field(default=300, ge=1, le=300)
    poll_seconds: float = Field(default=5.0, ge=0, le=300)
    # How long a request may stay PROCESSING before the batch is left for the next run.
    max_wait_seconds: float = Field(default=900.0, gt=0)
    timeout_seconds: float = Field(default=120.0, gt=0, le=600)

    @field_validator("operating_account_id")
    @classmethod
    def _operating(cls, value: str) -> str:
        return _account(value, "operating_account_id")

    @field_validator("login_account_id")
    @classmethod
    def _login(cls, value: str | None) -> str | None:
        return None if value is None else _account(value, "login_account_id")

    @field_validator("user_lists")
    @classmethod
    def _lists(cls, value: dict[str, str]) -> dict[str, str]:
        for segment, list_id in value.items():
            if not _DIGITS.fullmatch(list_id.strip()):
                raise ValueError(f"user_lists.{segment}: {list_id!r} is not a user list id (digits)")
        return {segment: list_id.strip() for segment, list_id in value.items()}

    _region = field_validator("default_phone_region")(check_phone_region)

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleSinkConfig:
        if self.credentials_file is not None and self.access_token is not None:
            raise ValueError("give credentials_file or access_token, not both")
        return self

    @property
    def fields(self) -> list[str]:
        return list(AUDIENCE_FIELDS)
