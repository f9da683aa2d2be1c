"""Several sources of one store score one customer base (sync/identity.py): a web shop
(WooCommerce fake) and a point of sale (Square fake), and the channel and category filters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fake_square import TOKEN, FakeSquare
from fake_woocommerce import KEY, SECRET, FakeWooCommerce
from pipelinekit import NOW, MemorySource, RecordingSink, run
from rfmsync.connectors.base import Contact
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.square.config import SquareSourceConfig
from rfmsync.connectors.square.source import SquareSource
from rfmsync.connectors.woocommerce.config import WooCommerceSourceConfig
from rfmsync.connectors.woocommerce.source import WooCommerceSource
from rfmsync.core.models import Order
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.contacts import audience_contacts
from rfmsync.sync.ledger import OrderFilter, load_ledger
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

DAY = timedelta(days=1)
FIELDS = ["segment", "recency_days", "frequency", "monetary"]
RETRY = RetryPolicy(max_attempts=2, base_delay=0.01)


@pytest.fixture
def shops() -> Iterator[tuple[FakeWooCommerce, FakeSquare]]:
    with FakeWooCommerce() as woo, FakeSquare() as square:
        woo.add_product(11, "Coffee")
        woo.add_product(12, "Mugs", "Gifts")
        # Ada: two web orders (the second with a refund of 10.00, spread over its lines) ...
        woo.add_order(id=1, total="100.00", created=NOW - 40 * DAY, customer_id=7, email="ada.old@example.com",
                      phone="+44 20 7946 0958", lines=((11, "50.00", "10.00"), (12, "40.00", "0.00")))
        woo.add_order(id=2, total="40.00", created=NOW - 10 * DAY, customer_id=7, email="ada@example.com",
                      refunds=("10.00",), lines=((11, "40.00", "0.00"),))  # net 30, Coffee 30
        # ... and one in the shop, where the till has her email in capitals.
        square.add_customer("C1", email=" ADA@example.com", phone="+4915112345678")
        square.add_item("ITEM-BEANS", ("VAR-BEANS",), "Coffee")
        square.add_item("ITEM-CUP", ("VAR-CUP",), "Mugs")
        square.add_order("S1", location="L1", customer="C1", cents=2_500, created=NOW - 5 * DAY,
                         source_name="Square Point of Sale", lines=(("VAR-BEANS", 1_500), ("VAR-CUP", 1_000)))
        # Bob: a web order with a national number, a POS customer known by the same phone only.
        woo.add_order(id=3, total="60.00", created=NOW - 2 * DAY, customer_id=9, email="bob@example.com",
                      phone="0151 87654321", lines=((12, "60.00", "0.00"),))
        square.add_customer("C2", phone="+49 151 87654321")
        square.add_order("S2", location="L2", customer="C2", cents=2_000, created=NOW - 20 * DAY,
                         lines=(("VAR-BEANS", 2_000),))
        # Two different people whose ids collide: web customer 3 and POS customer "3".
        woo.add_order(id=4, total="15.00", created=NOW - 8 * DAY, customer_id=3, email="zoe@example.com")
        square.add_customer("3", email="yan@example.com")
        square.add_order("S3", location="L1", customer="3", cents=9_000, created=NOW - 3 * DAY,
                         lines=(("VAR-BEANS", 9_000),))
        yield woo, square


def sources(woo: FakeWooCommerce, square: FakeSquare, per_page: int = 100, limit: int = 500) -> list[Any]:
    web = WooCommerceSource(WooCommerceSourceConfig.model_validate({
        "type": "woocommerce", "name": "web", "site": woo.base_url, "consumer_key": KEY, "consumer_secret": SECRET,
        "allow_http": True, "per_page": per_page}), retry=RETRY)
    pos = SquareSource(SquareSourceConfig.model_validate({
        "type": "square", "name": "pos", "access_token": TOKEN, "base_url": square.base_url, "limit": limit}),
        retry=RETRY)
    return [web, pos]


def store(srcs: list[Any], sink: RecordingSink, **settings: Any) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=srcs,
                        sinks=[sink], lookback=timedelta(hours=72), phone_region="DE", **settings)


def pushed(sink: RecordingSink) -> dict[str, tuple[str, str, str]]:
    return {c.customer_key: (c.fields["recency_days"], c.fields["frequency"], c.fields["monetary"])
            for c in sink.changes()}


def test_web_and_pos_orders_of_one_person_score_as_one_customer(shops: tuple[FakeWooCommerce, FakeSquare],
                                                                 db: Database) -> None:
    woo, square = shops
    sink = RecordingSink(fields=FIELDS)
    summary = run(db, store(sources(woo, square), sink))
    assert summary.outcome == "ok" and summary.orders_pulled == 7
    assert pushed(sink) == {
        "7": ("5", "3", "155.00"),  # 100 + 30 + 25, last in the shop 5 days ago, under her web key
        "9": ("2", "2", "80.00"),  # matched by phone: 0151 87654321 in DE is +4915187654321
        "3": ("8", "1", "15.00"),  # the web's customer 3 ...
        "pos:3": ("3", "1", "90.00"),  # ... and the till's, another person
    }
    assert summary.ledger is not None and summary.ledger.identity.multi_source == 2
    # Categories: the web's two products in one call; the till's variations, then their categories.
    assert (woo.received_by_kind["products"], square.received_by_kind["catalog"]) == (1, 2)
    # Pushes carry every email and phone the customer is known by, the newest first.
    contacts = audience_contacts(db, "shop", ["7", "9"], ledger=summary.ledger)
    assert contacts["7"] == Contact("ADA@example.com", "+4915112345678", None, None, ("ada.old@example.com",),
                                    ("+442079460958",))
    # Bob's two phones are one number written two ways: nothing else to send.
    assert (contacts["9"].email, contacts["9"].phone, contacts["9"].other_phones) == (
        "bob@example.com", "0151 87654321", ())


def test_channel_and_category_filters_give_hand_computed_rfm(shops: tuple[FakeWooCommerce, FakeSquare],
                                                             db: Database) -> None:
    woo, square = shops
    pos_only = RecordingSink(fields=FIELDS)
    run(db, store(sources(woo, square), pos_only, order_filter=OrderFilter.of(channels=["POS"])))
    # Only the till's orders count: Ada's 25.00, Bob's 20.00, the till's customer 3.
    assert pushed(pos_only) == {"7": ("5", "1", "25.00"), "9": ("20", "1", "20.00"), "pos:3": ("3", "1", "90.00")}

    # Lookups are kept in the state: later runs (with new source objects) ask for no category again.
    asked = (woo.received_by_kind["products"], square.received_by_kind["catalog"])
    coffee = RecordingSink(name="coffee", fields=FIELDS)
    run(db, store(sources(woo, square), coffee, order_filter=OrderFilter.of(categories=["coffee"])), NOW + DAY)
    # Coffee lines only: Ada 60.00 (50 + 10 tax) + 30.00 (40 less the whole refund, its only line) + 15.00
    # in the shop; Bob's web order was a mug, his POS order beans; web customer 3 bought nothing with a category.
    assert pushed(coffee) == {"7": ("6", "3", "105.00"), "9": ("21", "1", "20.00"), "pos:3": ("4", "1", "90.00")}
    assert (woo.received_by_kind["products"], square.received_by_kind["catalog"]) == asked

    gifts = RecordingSink(name="gifts", fields=FIELDS)
    # A line in two wanted categories counts once (the mug is in Mugs and Gifts).
    run(db, store(sources(woo, square), gifts, order_filter=OrderFilter.of(categories=["Gifts", "Mugs"])), NOW + DAY)
    assert pushed(gifts) == {"7": ("6", "2", "50.00"), "9": ("3", "1", "60.00")}


def mem_order(source: str, order_id: str, customer: str, days_ago: int, amount: str, *, email: str | None = None,
              phone: str | None = None) -> Order:
    return Order(source=source, order_id=order_id, customer_key=customer, email=email, phone=phone,
                 created_at=NOW - days_ago * DAY, amount=Decimal(amount), currency="EUR")


def two_sources(web: list[Order], pos: list[Order]) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                        sources=[MemorySource(web, name="web"), MemorySource(pos, name="pos")],
                        sinks=[RecordingSink(fields=FIELDS)], lookback=timedelta(days=400), phone_region="DE")


def keys(db: Database) -> dict[str, str]:
    return {f"{s}/{k}": c for s, k, c in db.conn.execute(
        "SELECT source, source_key, customer_key FROM identity_nodes WHERE store = 'shop'")}


def test_a_match_is_stable_and_two_known_customers_are_never_merged(db: Database) -> None:
    web = [mem_order("web", "w1", "W1", 30, "10.00", email="a@example.com"),
           # Same phone, different emails: two people (a shared landline), not one.
           mem_order("web", "w3", "W3", 30, "10.00", email="c@example.com", phone="030 1234567")]
    pos = [mem_order("pos", "p1", "P1", 20, "10.00", phone="+4915112345678"),
           mem_order("pos", "p3", "P3", 20, "10.00", email="d@example.com", phone="+49301234567")]
    first = run(db, two_sources(web, pos))
    assert keys(db) == {"web/W1": "W1", "pos/P1": "P1", "web/W3": "W3", "pos/P3": "P3"}
    assert first.ledger is not None and first.ledger.identity.multi_source == 0
    # W1 orders again with a new email and P1's phone: both already have keys, so they stay two
    # customers (their sinks hold each under its key). A new till customer with the new email joins W1.
    web.append(mem_order("web", "w1b", "W1", 5, "20.00", email="new@example.com", phone="0151 12345678"))
    pos.append(mem_order("pos", "p2", "P2", 4, "30.00", email="NEW@example.com"))
    second = run(db, two_sources(web, pos), NOW + DAY)
    assert keys(db) == {"web/W1": "W1", "pos/P1": "P1", "web/W3": "W3", "pos/P3": "P3", "pos/P2": "W1"}
    assert second.ledger is not None and second.ledger.identity.multi_source == 1
    batch = second.ledger.batch
    w1 = batch.customer_ids.index("W1")
    assert sorted(batch.amount_units[batch.customer_codes == w1].tolist()) == [100_000, 200_000, 300_000]


def test_one_source_keeps_its_keys_and_writes_no_mapping_and_a_dry_run_writes_none(db: Database) -> None:
    single = StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                          sources=[MemorySource([mem_order("web", "w1", "W1", 3, "5.00", email="a@example.com")],
                                                name="web")], sinks=[RecordingSink(fields=FIELDS)])
    assert run(db, single).customers_scored == 1 and keys(db) == {}
    both = two_sources([mem_order("web", "w1", "W1", 3, "5.00", email="a@example.com")],
                       [mem_order("pos", "p1", "P1", 2, "7.00", email="a@example.com")])
    dry = run(db, both, NOW + DAY, dry_run=True)
    assert keys(db) == {} and dry.ledger is not None and dry.ledger.identity.key_of("pos", "P1") == "W1"
    run(db, replace(both, sources=both.sources), NOW + DAY)
    assert keys(db) == {"web/W1": "W1", "pos/P1": "W1"}
    assert load_ledger(db, "shop", source_order=["web", "pos"]).batch.customer_ids == ["W1"]


def test_a_refused_category_lookup_leaves_the_orders_in_without_categories(
        shops: tuple[FakeWooCommerce, FakeSquare], db: Database, caplog: pytest.LogCaptureFixture) -> None:
    woo, square = shops
    woo.faults.add(404, kind="products")  # a shop whose keys or version cannot read products
    square.faults.add(403, kind="catalog")  # a token without ITEMS_READ
    sink = RecordingSink(fields=FIELDS)
    # Pages of 2: a refused lookup is not asked again on the next page.
    summary = run(db, store(sources(woo, square, per_page=2, limit=2), sink))
    assert summary.outcome == "ok" and summary.orders_pulled == 7
    assert pushed(sink)["7"] == ("5", "3", "155.00")  # every order in, scored as without the lookups
    assert db.conn.execute("SELECT COUNT(*) FROM orders WHERE order_lines IS NOT NULL").fetchone()[0] == 0
    warned = [r.getMessage() for r in caplog.records
              if r.levelname == "WARNING" and "line categories" in r.getMessage()]
    assert len(warned) == 2 and "the products of the orders' lines could not be read (HTTP 404)" in warned[0]
    assert (woo.received_by_kind["orders"], square.received_by_kind["search"]) == (2, 2)  # two pages each
    assert (woo.received_by_kind["products"], square.received_by_kind["catalog"]) == (1, 1)  # once, not per page
