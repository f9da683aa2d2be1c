"""The WooCommerce source through the run loop against the loopback fake (tests/lib/fake_woocommerce.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fake_woocommerce import KEY, SECRET, FakeWooCommerce
from pipelinekit import NOW, RecordingSink, run
from pydantic import ValidationError
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.woocommerce.config import WooCommerceSourceConfig
from rfmsync.connectors.woocommerce.source import WooCommerceSource
from rfmsync.core.batch import MONEY_SCALE
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.ledger import load_ledger
from rfmsync.sync.pipeline import RunOptions, StoreRuntime, run_store
from rfmsync.sync.run_cmds import pull_progress_text
from rfmsync.sync.state import Database


@pytest.fixture
def woo() -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce() as fake:
        yield fake


def source(woo: FakeWooCommerce, **config: Any) -> WooCommerceSource:
    settings: dict[str, Any] = {"type": "woocommerce", "name": "woo", "site": woo.base_url, "consumer_key": KEY,
                                "consumer_secret": SECRET, "allow_http": True, "per_page": 3, **config}
    return WooCommerceSource(WooCommerceSourceConfig.model_validate(settings), retry=RetryPolicy(max_attempts=2,
                                                                                                 base_delay=0.01))


def store(src: WooCommerceSource, sink: RecordingSink | None = None) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[src],
                        sinks=[sink or RecordingSink(fields=["segment", "monetary", "frequency"])],
                        lookback=timedelta(hours=72))


def shop(woo: FakeWooCommerce) -> None:
    day = timedelta(days=1)
    woo.add_order(id=1, total="100.00", created=NOW - 40 * day, customer_id=7, email="Ada@Example.com")
    woo.add_order(id=2, total="50.00", created=NOW - 10 * day, customer_id=7, email="ada@example.com",
                  refunds=("20.00",))  # net 30
    woo.add_order(id=3, total="80.00", created=NOW - 5 * day, email="  Guest@Example.com ")  # a guest
    woo.add_order(id=4, total="25.00", created=NOW - 3 * day, email="guest@example.com", status="processing")
    woo.add_order(id=5, total="60.00", created=NOW - 2 * day, customer_id=9, status="pending")
    woo.add_order(id=6, total="70.00", created=NOW - 2 * day, customer_id=9, status="on-hold")
    woo.add_order(id=7, total="90.00", created=NOW - 8 * day, customer_id=9, status="cancelled")
    woo.add_order(id=8, total="45.00", created=NOW - 8 * day, customer_id=9, status="refunded", refunds=("45.00",))
    woo.add_order(id=9, total="30.00", created=NOW - 9 * day, customer_id=9, status="failed")
    woo.add_order(id=10, total="15.00", created=NOW - 1 * day, customer_id=11, status="completed",
                  created_via="pos")


def test_every_order_lands_once_net_of_refunds_guests_by_email_statuses_mapped(woo: FakeWooCommerce,
                                                                              db: Database) -> None:
    shop(woo)
    sink = RecordingSink(fields=["segment", "monetary", "frequency"])
    summary = run(db, store(source(woo), sink))
    assert summary.outcome == "ok" and summary.orders_pulled == 10
    records = {c.customer_key: (c.fields["frequency"], c.fields["monetary"]) for c in sink.changes()}
    # Ada: 100 + (50 - 20); the guest by normalized email: 80 + 25; 9 has nothing counted yet; 11: 15.
    assert records == {"7": ("2", "130.00"), "email:guest@example.com": ("2", "105.00"), "11": ("1", "15.00")}
    ledger = load_ledger(db, "shop")
    assert ledger.orders_total == 10
    # Every order once at its net amount, counted or not: 100 + 30 + 80 + 25 + 60 + 70 + 90 + 0 + 30 + 15.
    assert int(ledger.batch.amount_units.sum()) == int(Decimal("500.00") * MONEY_SCALE)
    channels = {o: (c, d) for o, c, d in db.conn.execute(
        "SELECT order_id, channel, channel_detail FROM orders WHERE order_id IN ('1', '10')")}
    assert channels == {"1": ("web", "checkout"), "10": ("pos", "pos")}


def test_a_late_order_and_a_status_change_inside_the_look_back_are_picked_up(woo: FakeWooCommerce,
                                                                            db: Database) -> None:
    shop(woo)
    run(db, store(source(woo)))
    later = NOW + timedelta(hours=6)
    # A POS sale typed in late (modified after the last run, created before it), and 5 paid at last.
    woo.add_order(id=11, total="40.00", created=NOW - timedelta(days=3), modified=later - timedelta(hours=1),
                  customer_id=12)
    woo.modify(5, later - timedelta(minutes=30), status="completed")
    sink = RecordingSink(fields=["segment", "monetary", "frequency"])
    summary = run(db, store(source(woo), sink), at=later)
    assert summary.outcome == "ok"
    pulled = {c.customer_key: (c.fields["frequency"], c.fields["monetary"]) for c in sink.changes()}
    assert pulled["12"] == ("1", "40.00") and pulled["9"] == ("1", "60.00")
    assert summary.orders_pulled < 10  # only what changed since the last run, less the look-back


def test_a_store_that_ignores_modified_after_says_so(woo: FakeWooCommerce, db: Database) -> None:
    shop(woo)
    assert run(db, store(source(woo))).outcome == "ok"  # the first pull needs no filter
    woo.ignores_modified_after = True
    with pytest.raises(Exception, match="ignores modified_after"):
        run(db, store(source(woo)), at=NOW + timedelta(hours=1))


def test_wrong_keys_and_a_wrong_site_say_which(woo: FakeWooCommerce, db: Database) -> None:
    with pytest.raises(Exception, match="HTTP 401"):
        run(db, store(source(woo, consumer_secret="cs_wrong")))
    with pytest.raises(Exception, match=r"no REST API at .*check site"):
        run(db, store(source(woo, site=f"{woo.base_url}/shop")))
    woo.failures.clear()  # the fake notes the unknown path it was asked for


def test_plain_http_needs_allow_http() -> None:
    with pytest.raises(ValidationError, match="use https://, or set allow_http = true"):
        WooCommerceSourceConfig(type="woocommerce", site="http://shop.example.com",  # type: ignore[arg-type]
                                consumer_key="ck", consumer_secret="cs")


def test_a_backfill_reports_its_progress_against_the_shops_total(woo: FakeWooCommerce, db: Database) -> None:
    shop(woo)
    seen: list[tuple[str, int, int | None, str | None]] = []

    def record(name: str, count: int, expected: int | None, reached: datetime | None) -> None:
        seen.append((name, count, expected, reached.date().isoformat() if reached else None))

    summary = run_store(db, store(source(woo)), RunOptions(kind="backfill", now=NOW, pull_progress=record))
    assert summary.outcome == "ok"
    # Pages of 3, oldest change first: the share grows to the shop's X-WP-Total, the date to the newest.
    assert seen == [("woo", 3, 10, "2026-10-23"), ("woo", 6, 10, "2026-10-27"), ("woo", 9, 10, "2026-10-30"),
                    ("woo", 10, 10, "2026-10-31")]
    assert pull_progress_text(*seen[1][:3], datetime(2026, 10, 24, tzinfo=UTC)) == (
        "woo: 6 orders of 10 (60%), up to 2026-10-24")
