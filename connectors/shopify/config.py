"""Config of the Shopify source (docs/platforms.md §1)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import SourceConfig

# The newest stable quarterly version when this was written; pinned in config per store.
DEFAULT_API_VERSION = "2026-10"
MAX_PAGE_SIZE = 250  # "up to a maximum of 250 resources" per page (docs/platforms.md §1.1)


class ShopifySourceConfig(SourceConfig):
    type: Literal["shopify"]
    # The store's .myshopify.com domain: the Admin API does not answer on custom domains.
    shop: str
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_version: str = DEFAULT_API_VERSION
    # Replaces https://{shop}: a proxy, or a fake in tests.
    base_url: str | None = None
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    # Backfills run as bulk operations (one request for the whole history) unless turned off.
    bulk_backfill: bool = True
    bulk_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    # Read each order's lines with their products' categories (for rfm.categories). Shopify counts
    # every line in a query's cost: pages then hold at most LINE_PAGE_SIZE orders (mapping.py).
    line_categories: bool = False

    @field_validator("shop")
    @classmethod
    def _myshopify(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.myshopify\.com", value):
            raise ValueError("expected the store's .myshopify.com domain, e.g. acme.myshopify.com (the Admin "
                             "API does not answer on a shop's own domain)")
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"20\d\d-(01|04|07|10)", value):
            raise ValueError("expected a quarterly API version like 2026-10")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> ShopifySourceConfig:
        has_token = self.access_token is not None
        has_client = self.client_id is not None or self.client_secret is not None
        if has_token == has_client or (has_client and (self.client_id is None or self.client_secret is None)):
            raise ValueError("set either access_token, or both client_id and client_secret")
        return self
