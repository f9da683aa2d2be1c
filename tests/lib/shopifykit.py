"""Shopify connector test helpers: a source on the fake's clock, whole pulls and backfills."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fake_shopify import FakeShopify
from rfmsync.connectors.base import OrderPage
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.shopify.cursor import ShopifyCursor
from rfmsync.connectors.shopify.source import ShopifySource, ShopifySourceConfig
from rfmsync.core.models import Order

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)
NO_WAIT = RetryPolicy(sleep=lambda _: None)


def source(fake: FakeShopify, **config: Any) -> ShopifySource:
    settings = {"type": "shopify", "shop": "acme.myshopify.com", "base_url": fake.base_url,
                "access_token": "shpat_static", "bulk_poll_seconds": 1, **config}
    if "client_id" in config:
        settings.pop("access_token")
    # The connector's waits move the fake's clock: pacing and restore are exact and instant.
    return ShopifySource(ShopifySourceConfig.model_validate(settings), retry=NO_WAIT, sleep=fake.advance,
                         clock=fake.elapsed, wall_clock=lambda: fake.now.timestamp())


def page_orders(page: OrderPage) -> list[Order]:
    return [*page.orders, *(page.columns.as_orders() if page.columns is not None else [])]


def backfill_all(src: ShopifySource, cursor: ShopifyCursor | None = None) -> tuple[list[Order], ShopifyCursor | None]:
    orders: list[Order] = []
    position = cursor
    for page in src.backfill(None, NOW, cursor):
        orders += page_orders(page)
        position = page.cursor
    return orders, position
