"""The WooCommerce source against the source contract, on the loopback WooCommerce fake (OAuth over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fake_woocommerce import KEY, SECRET, FakeWooCommerce
from rfmsync.connectors.base import Source
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.woocommerce.config import WooCommerceSourceConfig
from rfmsync.connectors.woocommerce.source import WooCommerceSource
from rfmsync.core.models import Order
from rfmsync.testing import NOW, SourceContract


class TestWooCommerceSourceContract(SourceContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeWooCommerce]:
        with FakeWooCommerce() as fake:
            yield fake

    def make_source(self, platform: FakeWooCommerce, retry: RetryPolicy, page_size: int) -> Source[Any]:
        config = WooCommerceSourceConfig(type="woocommerce", name="contract", site=platform.base_url,  # type: ignore[arg-type]
                                         consumer_key=KEY, consumer_secret=SECRET, allow_http=True, per_page=page_size)
        return WooCommerceSource(config, retry=retry)

    def add_orders(self, platform: FakeWooCommerce, orders: Sequence[Order]) -> None:
        for o in orders:
            platform.add_order(id=int(o.order_id), total=str(o.amount), created=o.created_at, modified=o.updated_at,
                               customer_id=int(o.customer_key or 0), email=o.email, currency=o.currency)

    def update_order(self, platform: FakeWooCommerce, order: Order) -> None:
        assert order.updated_at is not None
        platform.modify(int(order.order_id), order.updated_at, total=str(order.amount))

    def add_bad_record(self, platform: FakeWooCommerce) -> bool:
        platform.add_order(id=4999, total="not a number", created=NOW)
        return True

    def secrets(self, platform: FakeWooCommerce) -> list[str]:
        return [KEY, SECRET]
