"""The Square source against the source contract, on the loopback Square fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fake_square import TOKEN, FakeSquare
from rfmsync.connectors.base import Source
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.square.config import SquareSourceConfig
from rfmsync.connectors.square.source import SquareSource
from rfmsync.core.models import Order
from rfmsync.testing import NOW, SourceContract


class TestSquareSourceContract(SourceContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeSquare]:
        with FakeSquare(locations=("L1",)) as fake:
            yield fake

    def make_source(self, platform: FakeSquare, retry: RetryPolicy, page_size: int) -> Source[Any]:
        config = SquareSourceConfig(type="square", name="contract", access_token=TOKEN,  # type: ignore[arg-type]
                                    base_url=platform.base_url, limit=page_size)
        return SquareSource(config, retry=retry)

    def add_orders(self, platform: FakeSquare, orders: Sequence[Order]) -> None:
        for o in orders:
            customer = f"C{o.customer_key}"
            platform.add_customer(customer, email=o.email)
            platform.add_order(o.order_id, location="L1", cents=int(o.amount * 100), created=o.created_at,
                               updated=o.updated_at, customer=customer, currency=o.currency)

    def update_order(self, platform: FakeSquare, order: Order) -> None:
        assert order.updated_at is not None
        platform.update(order.order_id, order.updated_at, total_money={"amount": int(order.amount * 100),
                                                                        "currency": order.currency})

    def add_bad_record(self, platform: FakeSquare) -> bool:
        platform.add_order("BAD", location="L1", cents=100, created=NOW)
        platform.orders["BAD"].pop("total_money")  # as some exchange orders come (§3.1)
        return True

    def secrets(self, platform: FakeSquare) -> list[str]:
        return [TOKEN]
