"""The Square source through the run loop against the loopback fake (tests/lib/fake_square.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fake_square import TOKEN, FakeSquare
from pipelinekit import NOW, RecordingSink, run
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.square.config import SquareSourceConfig
from rfmsync.connectors.square.source import SquareSource
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.contacts import audience_contacts
from rfmsync.sync.ledger import load_ledger
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

DAY = timedelta(days=1)


@pytest.fixture
def square() -> Iterator[FakeSquare]:
    with FakeSquare() as fake:
        fake.add_customer("C1", email="ada@example.com", phone="+4915112345678")
        fake.add_customer("C2", phone="+4915187654321")  # a POS customer with a phone only
        fake.add_order("S1", location="L1", customer="C1", cents=10_000, created=NOW - 30 * DAY)
        fake.add_order("S2", location="L2", customer="C1", cents=4_000, created=NOW - 10 * DAY)
        # A return of 15.00 from S1, rung up without the customer (as return orders often are).
        fake.add_order("R1", location="L1", cents=0, created=NOW - 9 * DAY, returns="S1", returned_cents=1_500)
        fake.add_order("S3", location="L2", customer="C2", cents=2_500, created=NOW - 5 * DAY)
        fake.add_order("S4", location="L1", customer="C2", cents=9_900, created=NOW - 4 * DAY, state="CANCELED")
        fake.add_order("S5", location="L1", customer="C2", cents=9_900, created=NOW - 3 * DAY, state="OPEN")
        fake.add_order("S6", location="L1", customer="C2", cents=9_900, created=NOW - 3 * DAY, state="DRAFT")
        fake.add_order("S7", location="L2", cents=1_200, created=NOW - 2 * DAY)  # anonymous
        yield fake


def source(square: FakeSquare, **config: Any) -> SquareSource:
    settings: dict[str, Any] = {"type": "square", "access_token": TOKEN, "base_url": square.base_url, "limit": 2,
                                **config}
    return SquareSource(SquareSourceConfig.model_validate(settings), retry=RetryPolicy(max_attempts=2,
                                                                                       base_delay=0.01))


def store(src: SquareSource, sink: RecordingSink) -> StoreRuntime:
    lookback = timedelta(minutes=src.config.lookback_minutes or 0)
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[src],
                        sinks=[sink], lookback=lookback)


def fields(sink: RecordingSink) -> dict[str, tuple[str, str]]:
    return {c.customer_key: (c.fields["frequency"], c.fields["monetary"]) for c in sink.changes()}


def test_sales_returns_states_and_customers(square: FakeSquare, db: Database) -> None:
    sink = RecordingSink(fields=["segment", "frequency", "monetary"])
    summary = run(db, store(source(square), sink))
    assert summary.outcome == "ok" and summary.orders_pulled == 8
    # C1: 100 + 40 - 15 (the return, attributed to the sale's customer), 2 orders; C2: 25 only.
    assert fields(sink) == {"C1": ("2", "125.00"), "C2": ("1", "25.00")}
    ledger = load_ledger(db, "shop")
    assert (ledger.orders_total, ledger.orders_without_customer) == (8, 1)  # S7 kept, not scored
    contacts = audience_contacts(db, "shop", ["C1", "C2"])
    assert (contacts["C1"].email, contacts["C1"].phone, contacts["C2"].phone) == (
        "ada@example.com", "+4915112345678", "+4915187654321")
    channels = {o: (c, d) for o, c, d in db.conn.execute(
        "SELECT order_id, channel, channel_detail FROM orders WHERE order_id IN ('S1', 'S2')")}
    assert channels == {"S1": ("pos", "L1"), "S2": ("pos", "L2")}
    # One bulk call per page that brought a customer not seen yet (pages of 2: C1, then C2); never twice.
    assert square.customer_calls == 2


def test_a_late_pos_order_inside_the_72_hour_look_back_is_picked_up_and_customers_are_cached(
        square: FakeSquare, db: Database) -> None:
    run(db, store(source(square), RecordingSink(fields=["segment", "frequency", "monetary"])))
    later = NOW + timedelta(hours=30)
    # Rung up offline two days ago; it reached Square (updated_at) a day before this run, 48 h late.
    square.add_order("S8", location="L1", customer="C2", cents=5_000, created=NOW - 2 * DAY,
                     updated=NOW + timedelta(hours=1))
    calls = square.customer_calls
    sink = RecordingSink(fields=["segment", "frequency", "monetary"])
    summary = run(db, store(source(square), sink), at=later)
    assert summary.outcome == "ok"
    assert fields(sink)["C2"] == ("2", "75.00")
    assert square.customer_calls == calls  # C2's email and phone came from the state


def test_yen_are_whole_units(square: FakeSquare, db: Database) -> None:
    square.add_customer("C3", email="ken@example.jp")
    square.add_order("Y1", location="L1", customer="C3", cents=2_500, created=NOW - DAY, currency="JPY")
    run(db, StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                         sources=[source(square)], sinks=[], currency="JPY"))
    amount = db.conn.execute("SELECT amount_units, currency FROM orders WHERE order_id = 'Y1'").fetchone()
    assert amount == (2_500 * 10_000, "JPY")


def test_a_wrong_token_or_location_says_which(square: FakeSquare, db: Database) -> None:
    with pytest.raises(Exception, match="HTTP 401"):
        run(db, store(source(square, access_token="wrong"), RecordingSink()))
    with pytest.raises(Exception, match=r"NOT_FOUND on location_ids \(check locations\)"):
        run(db, store(source(square, locations=["L9"]), RecordingSink()))
