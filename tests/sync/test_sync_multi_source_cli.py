"""`check-config`, `sync` and `status` for a store with a web shop and a point of sale: channels
and categories listed, a filter that matches nothing warned about, customers in both counted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fake_square import TOKEN, FakeSquare
from fake_woocommerce import KEY, SECRET, FakeWooCommerce
from pipelinekit import NOW
from testkit import Cli

CONFIG = """
state_dir = "state"
[stores.shop]
timezone = "UTC"
as_of = 2026-11-01
phone_region = "DE"
[stores.shop.rfm]
channels = ["pos", "kiosk"]
categories = ["Tea"]
[[stores.shop.sources]]
type = "woocommerce"
name = "web"
site = "{woo}"
consumer_key = "${{WOO_KEY}}"
consumer_secret = "${{WOO_SECRET}}"
allow_http = true
[[stores.shop.sources]]
type = "square"
name = "pos"
access_token = "${{SQUARE_TOKEN}}"
base_url = "{square}"
[[stores.shop.sources]]
type = "csv"
name = "old-till"
path = "old.csv"
channel = "pos"
[[stores.shop.sinks]]
type = "csv"
dir = "out"
fields = ["segment", "frequency", "monetary"]
"""


@pytest.fixture
def shops() -> Iterator[tuple[FakeWooCommerce, FakeSquare]]:
    day = timedelta(days=1)
    with FakeWooCommerce() as woo, FakeSquare() as square:
        woo.add_product(11, "Coffee")
        woo.add_order(id=1, total="30.00", created=NOW - 9 * day, customer_id=7, email="ada@example.com",
                      lines=((11, "30.00", "0.00"),))
        woo.add_order(id=2, total="12.00", created=NOW - 4 * day, customer_id=8, email="bo@example.com",
                      created_via="admin")
        square.add_customer("C1", email="Ada@Example.com")
        square.add_item("ITEM-TEA", ("VAR-TEA",), "Tea")
        square.add_order("S1", location="L1", customer="C1", cents=1_800, created=NOW - 2 * day,
                         lines=(("VAR-TEA", 1_800),))
        yield woo, square


def test_check_config_lists_what_the_orders_hold_and_status_counts_shared_customers(
        tmp_path: Path, cli: Cli, shops: tuple[FakeWooCommerce, FakeSquare], monkeypatch: pytest.MonkeyPatch) -> None:
    woo, square = shops
    config = tmp_path / "rfmsync.toml"
    config.write_text(CONFIG.format(woo=woo.base_url, square=square.base_url), encoding="utf-8")
    # The old till's export: Ada once more (by email), and someone only it knew.
    (tmp_path / "old.csv").write_text("order_id,customer_id,created_at,amount,email\n"
                                      "T1,900,2026-01-05,8.00,ADA@example.com\nT2,901,2026-02-05,9.00,\n",
                                      encoding="utf-8")
    for name, value in (("WOO_KEY", KEY), ("WOO_SECRET", SECRET), ("SQUARE_TOKEN", TOKEN)):
        monkeypatch.setenv(name, value)
    code, out, _ = cli("check-config", config)
    assert code == 0 and "channels and categories: none seen yet (no orders pulled)" in out

    code, out, err = cli("sync", "--config", config)
    assert code == 0, err
    assert "5 orders pulled" in out and "1 customers seen in more than one source" in out
    assert "1 customers scored" in out  # Ada, by the tea she bought at the till
    assert "4 orders outside the store's rfm.channels / rfm.categories" in out  # web's, the old till's
    code, out, _ = cli("check-config", config)
    assert code == 0
    assert "channels seen (orders): pos 3 (old.csv 2, L1 1); staff 1 (admin 1); web 1 (checkout 1)" in out
    assert "categories seen (orders): Coffee 1, Tea 1" in out
    assert "warning: rfm.channels: 'kiosk' matches no order seen so far" in out
    assert "warning: rfm.categories: none of source old-till's 2 orders carries line categories" in out
    assert "source web's" not in out and "source pos's" not in out
    code, out, _ = cli("status", "--config", config)
    assert code == 0 and "(1 seen in more than one source)" in out
    out_file = next((tmp_path / "out").glob("*.csv")).read_text(encoding="utf-8")
    # POS orders with tea: Ada's 18.00 at the till (the old till records no lines), under her web key.
    assert out_file.splitlines()[1:] == ["shop:csv:1:0,7,entered,,Lost,Lost,1,18.00"]
