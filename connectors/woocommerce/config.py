"""Config of the WooCommerce source (docs/platforms.md §2)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from rfmsync.connectors.base import SourceConfig

MAX_PER_PAGE = 100  # per_page: min 1, max 100 (§2.1)


class WooCommerceSourceConfig(SourceConfig):
    type: Literal["woocommerce"]
    # The shop's address, e.g. https://shop.example.com (the REST API is under /wp-json/wc/v3).
    site: str
    consumer_key: SecretStr
    consumer_secret: SecretStr
    # Over plain HTTP WooCommerce wants OAuth 1.0a with the key in the query string, where proxies and
    # logs see it: refused unless this is set (a shop on a private network, a test).
    allow_http: bool = False
    per_page: int = Field(default=MAX_PER_PAGE, ge=1, le=MAX_PER_PAGE)
    timeout_seconds: float = Field(default=60.0, gt=0, le=300)
    # Products' categories (for rfm.categories) are asked for once and kept this long in the state.
    product_cache_days: int = Field(default=7, ge=0)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected the shop's address, like https://shop.example.com")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _https(self) -> WooCommerceSourceConfig:
        if urlsplit(self.site).scheme == "http" and not self.allow_http:
            raise ValueError("site is http://: WooCommerce then needs the keys in the query string (OAuth 1.0a), "
                             "visible to proxies and logs; use https://, or set allow_http = true")
        return self

    @property
    def is_http(self) -> bool:
        return urlsplit(self.site).scheme == "http"
