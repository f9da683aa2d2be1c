"""The Shopify source against the loopback fake (tests/lib/fake_shopify.py): paging, the time
filter, throttling, faults, tokens, errors and bulk backfills."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fake_shopify import FakeShopify
from rfmsync.connectors.shopify.source import ShopifySource
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from rfmsync.core.models import Order
from shopifykit import NOW, backfill_all, page_orders, source


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(now=NOW, time_scale=0) as shop:
        yield shop


def pull_all(src: ShopifySource, since: datetime | None = None) -> list[Order]:
    return [o for page in src.pull(since, NOW, None) for o in page.orders]


def test_pages_through_every_order_with_net_amounts(fake: FakeShopify) -> None:
    fake.generate_orders(600, customers=200, seed=1, end=NOW - timedelta(days=1))
    refunded = fake.add_order(amount="0.00", displayFinancialStatus="REFUNDED", customer=9001,
                              updatedAt=NOW - timedelta(hours=3))
    orders = pull_all(source(fake))
    assert len(orders) == 601 and len({o.order_id for o in orders}) == 601
    by_id = {o.order_id: o for o in orders}
    assert by_id[refunded["id"].rsplit("/", 1)[-1]].amount == Decimal("0.00")
    assert sum(1 for c in fake.calls if c.kind == "orders") == 3  # 250 + 250 + 101
    assert {c.variables["first"] for c in fake.calls if c.kind == "orders"} == {250}
    assert fake.versions_seen == {"2026-10"}


def test_second_pull_asks_only_for_what_changed_with_a_quoted_time(fake: FakeShopify) -> None:
    fake.generate_orders(50, customers=20, seed=2, end=NOW - timedelta(days=2))
    src = source(fake)
    first = pull_all(src)
    assert len(first) == 50
    changed = [fake.update_order(int(o.order_id), displayFinancialStatus="REFUNDED") for o in first[:3]]
    again = pull_all(src, since=NOW - timedelta(hours=1))
    assert sorted(o.order_id for o in again) == sorted(c["id"].rsplit("/", 1)[-1] for c in changed)
    assert fake.searches[-1] == "updated_at:>='2026-11-15T03:00:00Z'"
    assert fake.ignored_search_terms == []


def test_pacing_keeps_the_bucket_from_emptying(fake: FakeShopify) -> None:
    fake.generate_orders(2000, customers=300, seed=3, end=NOW - timedelta(days=1))
    assert len(pull_all(source(fake))) == 2000
    # 8 pages asking for 252 points each from a 1000-point bucket restoring 50/s: the client waits
    # (requested - available) / restore before sending, so Shopify never has to refuse it.
    assert fake.throttled == 0 and fake.requests_while_empty == 0
    assert fake.min_available >= 0
    assert fake.requests == 8


@pytest.mark.parametrize("status", [200, 429])
def test_throttled_answers_are_waited_out(status: int) -> None:
    with FakeShopify(now=NOW, time_scale=0, throttle_status=status) as fake:
        fake.generate_orders(600, customers=100, seed=4, end=NOW - timedelta(days=1))
        src = source(fake)
        pages = src.pull(None, NOW, None)
        first = next(pages)
        fake.set_available(0)  # another app of the shop spent the bucket: the client cannot know
        rest = [o for page in pages for o in page.orders]
        assert len(first.orders) + len(rest) == 600
        assert fake.throttled == 1 and fake.throttled_in_a_row == 0  # one refusal, then a long enough wait
        assert src.graphql.throttled == 1 and fake.min_available >= 0


def test_a_502_in_the_middle_is_retried(fake: FakeShopify) -> None:
    fake.generate_orders(600, customers=100, seed=5, end=NOW - timedelta(days=1))
    fake.fail_at_request(2, 502)
    assert len(pull_all(source(fake))) == 600
    assert fake.injected_failures == 1 and fake.requests == 4


def test_client_credentials_are_exchanged_and_refreshed(fake: FakeShopify) -> None:
    fake.generate_orders(10, customers=5, seed=6, end=NOW - timedelta(days=1))
    src = source(fake, client_id="fake-client-id", client_secret="fake-client-secret")
    assert len(pull_all(src)) == 10 and fake.token_exchanges == 1
    fake.advance(86_399 - 200)  # inside the refresh margin: a new token before the old one lapses
    assert len(pull_all(src)) == 10 and fake.token_exchanges == 2 and fake.unauthorized == 0
    fake.advance(90_000)
    src.tokens._expires_at = float("inf")  # as if our clock disagreed: the 401 makes us refresh once
    assert len(pull_all(src)) == 10 and fake.token_exchanges == 3 and fake.unauthorized == 1


def test_wrong_credentials_and_missing_scopes_say_which(fake: FakeShopify) -> None:
    fake.add_order(amount="5.00", customer=1)
    with pytest.raises(AuthError, match=r"refused the access token for acme\.myshopify\.com"):
        pull_all(source(fake, access_token="shpat_revoked"))
    with pytest.raises(AuthError, match="refused the client id and secret"):
        pull_all(source(fake, client_id="fake-client-id", client_secret="wrong"))
    denied = FakeShopify(now=NOW, time_scale=0, access_denied_for_orders=True)
    with denied, pytest.raises(AuthError, match="needs the read_orders scope"):
        pull_all(source(denied))


def test_unknown_shop_and_bad_version_are_clear(fake: FakeShopify) -> None:
    with pytest.raises(PermanentError, match=r"no store answers at acme\.myshopify\.com"):
        pull_all(source(fake, base_url=fake.base_url + "/no-such-shop"))


def test_history_limit_and_redacted_emails_are_explained(caplog: pytest.LogCaptureFixture) -> None:
    with FakeShopify(now=NOW, time_scale=0, history_days=60) as fake:
        fake.generate_orders(300, customers=50, seed=7, start=NOW - timedelta(days=400), end=NOW - timedelta(days=1))
        fake.add_order(amount="9.00", customer=None, email=None, createdAt=NOW - timedelta(days=2),
                       updatedAt=NOW - timedelta(days=2))
        with caplog.at_level(logging.WARNING, logger="rfmsync.connectors.shopify"):
            orders = pull_all(source(fake))
    text = caplog.text
    assert "only the last 60 days of orders" in text and "read_all_orders" in text
    without = sum(1 for o in orders if not o.email)
    assert without >= 1 and f"{without} of {len(orders)} orders came without an email" in text
    assert "@" not in text


def test_a_bulk_backfill_counts_orders_without_email_from_its_columns(caplog: pytest.LogCaptureFixture) -> None:
    with FakeShopify(now=NOW, time_scale=0) as fake:
        fake.generate_orders(300, customers=50, seed=7, end=NOW - timedelta(days=1))
        for n in range(3):
            fake.add_order(amount="9.00", customer=None, email=None, createdAt=NOW - timedelta(days=2 + n),
                           updatedAt=NOW - timedelta(days=2))
        with caplog.at_level(logging.WARNING, logger="rfmsync.connectors.shopify"):
            orders, _ = backfill_all(source(fake))
    without = sum(1 for o in orders if not o.email)
    assert without >= 3 and f"{without} of {len(orders)} orders came without an email" in caplog.text


def test_bulk_backfill_streams_every_order_in_one_operation(fake: FakeShopify) -> None:
    fake.generate_orders(2500, customers=400, seed=8, end=NOW - timedelta(days=1))
    src = source(fake)
    orders, _ = backfill_all(src)
    assert len(orders) == 2500 and len({o.order_id for o in orders}) == 2500
    assert fake.bulk_runs == 1 and fake.bulk_downloads == 1
    assert sum(1 for c in fake.calls if c.kind == "orders") == 0
    assert fake.bulk_polls >= 3  # CREATED, RUNNING, COMPLETED


def test_interrupted_bulk_backfill_resumes_mid_file(fake: FakeShopify) -> None:
    fake.generate_orders(2500, customers=400, seed=9, end=NOW - timedelta(days=1))
    src = source(fake)
    pages = src.backfill(None, NOW, None)
    first = next(pages)
    pages.close()  # Ctrl-C after the first page was stored with its position
    assert not first.orders and len(page_orders(first)) == 1000  # bulk pages come as columns
    rest, _ = backfill_all(src, first.cursor)
    assert len(rest) == 1500
    assert {o.order_id for o in rest}.isdisjoint(o.order_id for o in page_orders(first))
    assert fake.bulk_runs == 1 and fake.bulk_downloads == 2  # the same result, read on from line 1000


def test_failed_bulk_keeps_partial_results_and_expired_starts_over(fake: FakeShopify) -> None:
    fake.generate_orders(1500, customers=100, seed=10, end=NOW - timedelta(days=1))
    fake.next_bulk_outcome("FAILED", partial_lines=1200)
    src = source(fake)
    kept: list[Order] = []
    with pytest.raises(TransientError, match=r"ended FAILED .*kept 1200 orders"):
        for page in src.backfill(None, NOW, None):
            kept += page_orders(page)
    assert len(kept) == 1200
    fake.next_bulk_outcome("EXPIRED")
    with pytest.raises(TransientError, match="ended EXPIRED"):
        backfill_all(src)
    orders, _ = backfill_all(src)  # a fresh operation
    assert len(orders) == 1500 and fake.bulk_runs == 3


def test_resume_after_the_result_url_expired_starts_a_new_operation(fake: FakeShopify) -> None:
    fake.generate_orders(2500, customers=400, seed=11, end=NOW - timedelta(days=1))
    src = source(fake)
    pages = src.backfill(None, NOW, None)
    first = next(pages)
    pages.close()
    fake.expire_bulk_urls()  # 7 days later
    with pytest.raises(TransientError, match="could not be downloaded"):
        backfill_all(src, first.cursor)
    assert fake.bulk_runs == 2  # it did not retry the dead link: it started over


def test_a_finished_pull_is_not_resumed_by_the_next_one(fake: FakeShopify) -> None:
    fake.generate_orders(300, customers=50, seed=12, start=NOW - timedelta(days=10), end=NOW - timedelta(days=1))
    src = source(fake)
    since = NOW - timedelta(days=30)
    position = None
    for page in src.pull(since, NOW, None):
        position = page.cursor
    fake.update_order(1001, amount="1.00")
    # A run in the same second builds the same time filter: the saved position of the finished pull
    # must not make it start after the end of the previous result (it used to return 1 order).
    again = [o for page in src.pull(since, NOW, position) for o in page.orders]
    assert len(again) == 300
