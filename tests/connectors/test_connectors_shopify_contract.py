"""The Shopify source against the source contract, on the loopback Shopify fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fake_shopify import FakeShopify
from rfmsync.connectors.base import Source
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.shopify.source import ShopifySource, ShopifySourceConfig
from rfmsync.core.models import Order
from rfmsync.testing import NOW, SourceContract

TOKEN = "shpat_contract_0123456789"


class TestShopifySourceContract(SourceContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeShopify]:
        with FakeShopify(now=NOW, time_scale=0, access_tokens=[TOKEN]) as fake:
            yield fake

    def make_source(self, platform: FakeShopify, retry: RetryPolicy, page_size: int) -> Source[Any]:
        config = ShopifySourceConfig(type="shopify", shop="contract.myshopify.com", base_url=platform.base_url,
                                     access_token=TOKEN, page_size=page_size, bulk_poll_seconds=1)
        return ShopifySource(config, retry=retry, sleep=platform.advance, clock=platform.elapsed,
                             wall_clock=lambda: platform.now.timestamp())

    def add_orders(self, platform: FakeShopify, orders: Sequence[Order]) -> None:
        for o in orders:
            platform.add_order(id=int(o.order_id), amount=str(o.amount), currency=o.currency,
                               customer=int(o.customer_key or 0) or None, customer_email=o.email,
                               createdAt=o.created_at, updatedAt=o.updated_at)

    def update_order(self, platform: FakeShopify, order: Order) -> None:
        platform.update_order(int(order.order_id), amount=str(order.amount), updatedAt=order.updated_at)

    def add_bad_record(self, platform: FakeShopify) -> bool:
        platform.add_order(id=4999, currentTotalPriceSet=None, createdAt=NOW, updatedAt=NOW)
        return True

    def secrets(self, platform: FakeShopify) -> list[str]:
        return [TOKEN]
