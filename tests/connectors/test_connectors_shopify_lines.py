"""Shopify line categories (line_categories = true) against the loopback fake: paged pulls with
lineItems(first: 10) in pages Shopify's cost limit allows, bulk backfills with grouped line items
resumed between two orders, amounts net of refunded quantities."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from fake_shopify import FakeShopify
from rfmsync.connectors.shopify.mapping import LINE_PAGE_SIZE
from rfmsync.core.models import Order, OrderLine
from shopifykit import NOW, backfill_all, page_orders, source


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(now=NOW, time_scale=0) as shop:
        yield shop


def shop(fake: FakeShopify, orders: int = 40) -> None:
    for n in range(orders):
        fake.add_order(amount="30.00", customer=100 + n % 7, createdAt=NOW - timedelta(days=n + 1), lines=[
            # 2 of 3 bags left after a refund: 20.00 of 30.00; a mug whose product is in two words.
            ("30.00", "Coffee", "Coffee Beans", 3, 2), ("12.50", "Mugs", None),
            ("5.00", None, None),  # a custom item: no product, no category
        ])


def lines_of(orders: list[Order]) -> set[tuple[OrderLine, ...]]:
    return {o.lines for o in orders}


EXPECTED = (OrderLine(categories=("Coffee", "Coffee Beans"), amount=Decimal("20.0000")),
            OrderLine(categories=("Mugs",), amount=Decimal("12.5000")))


def test_paged_pulls_read_lines_in_pages_under_the_cost_limit(fake: FakeShopify) -> None:
    shop(fake)
    src = source(fake, line_categories=True)
    pages = list(src.pull(None, NOW, None))
    orders = [o for page in pages for o in page.orders]
    assert len(orders) == 40 and lines_of(orders) == {EXPECTED}
    # 40 orders in pages of 18: 3 requests, each under Shopify's 1,000-point limit (the fake refuses more).
    assert len(pages) == 3 and all(c.variables["first"] == LINE_PAGE_SIZE for c in fake.calls if c.kind == "orders")
    assert fake.throttled == 0


def test_without_line_categories_the_query_asks_for_no_lines(fake: FakeShopify) -> None:
    shop(fake, 5)
    orders = [o for page in source(fake).pull(None, NOW, None) for o in page.orders]
    assert lines_of(orders) == {()} and all("lineItems" not in (c.query or "") for c in fake.calls)


def test_an_order_with_more_lines_than_a_page_reads_says_so(fake: FakeShopify, caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    fake.add_order(amount="99.00", customer=1, lines=[(f"{i}.00", "Tea", None) for i in range(1, 13)])
    with caplog.at_level(logging.WARNING):
        orders = [o for page in source(fake, line_categories=True).pull(None, NOW, None) for o in page.orders]
    assert len(orders[0].lines) == 10
    assert any("1 orders have more than 10 lines" in r.getMessage() for r in caplog.records)


def test_a_bulk_backfill_reads_every_line_and_resumes_between_two_orders(fake: FakeShopify) -> None:
    shop(fake, 1500)
    fake.add_order(amount="99.00", customer=1, lines=[(f"{i}.00", "Tea", None) for i in range(1, 13)])
    src = source(fake, line_categories=True)
    pages = src.backfill(None, NOW, None)
    first = next(pages)
    pages.close()  # Ctrl-C after the first page
    kept = page_orders(first)
    assert len(kept) == 1000 and lines_of(kept) == {EXPECTED}
    rest, _ = backfill_all(src, first.cursor)
    assert len(rest) == 501 and {o.order_id for o in rest}.isdisjoint(o.order_id for o in kept)
    assert lines_of(rest) == {EXPECTED, tuple(OrderLine(categories=("Tea",), amount=Decimal(i)) for i in range(1, 13))}
    assert fake.bulk_runs == 1 and "groupObjects: true" in next(c.query for c in fake.calls if c.kind == "bulk_run")
