"""`rfmsync backfill` and `rfmsync sync` on a Shopify store served by the loopback fake."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fake_shopify import FakeShopify
from rfmsync.core.clock import utc_now
from rfmsync.sync.ledger_snapshots import read_store
from rfmsync.sync.state import Database
from testkit import Cli, read_rows

CONFIG = """
state_dir = "state"
[stores.shop]
timezone = "Europe/Berlin"
[[stores.shop.sources]]
type = "shopify"
name = "web"
shop = "acme.myshopify.com"
base_url = "{base_url}"
access_token = "${{ACME_SHOPIFY_TOKEN}}"
bulk_poll_seconds = 0.05
[[stores.shop.sinks]]
type = "csv"
dir = "out"
"""


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    # Real time, with a restore rate that keeps paced waits short (the pacing itself is tested
    # on a manual clock in tests/connectors/test_connectors_shopify.py).
    with FakeShopify(restore_rate=2000.0) as shop:
        yield shop


@pytest.fixture
def config(fake: FakeShopify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACME_SHOPIFY_TOKEN", "shpat_static")
    path = tmp_path / "rfmsync.toml"
    path.write_text(CONFIG.format(base_url=fake.base_url), encoding="utf-8")
    return path


def ledger(tmp_path: Path) -> dict[str, int]:
    """Order id -> amount units, from the rows and the snapshot (a bulk backfill writes one)."""
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as conn:
        held = dict(conn.execute("SELECT order_id, amount_units FROM orders").fetchall())
    db = Database(tmp_path / "state")
    try:
        table = read_store(db, "shop")
    finally:
        db.close()
    if table is not None:
        held.update(zip(table["order_id"].to_pylist(), table["amount_units"].to_pylist(), strict=True))
    return held


def expected(fake: FakeShopify) -> dict[str, int]:
    return {node["id"].rsplit("/", 1)[-1]: int(Decimal(node["currentTotalPriceSet"]["shopMoney"]["amount"]) * 10_000)
            for node in fake.store.nodes.values()}


def test_backfill_then_sync_pulls_only_what_changed(cli: Cli, fake: FakeShopify, config: Path,
                                                    tmp_path: Path) -> None:
    now = utc_now()
    fake.generate_orders(3000, customers=500, seed=21, end=now - timedelta(hours=3))
    code, out, err = cli("backfill", "--config", config, "--store", "shop")
    assert code == 0, err
    assert "3,000 orders pulled" in out
    assert ledger(tmp_path) == expected(fake)  # every order once, with its net amount
    assert fake.bulk_runs == 1 and sum(1 for c in fake.calls if c.kind == "orders") == 0
    # The sink got every scored customer exactly once, each in the audience file of its segment.
    scored = int(out.split(" customers scored")[0].rsplit(" ", 1)[-1].replace(",", ""))
    audiences = {path.stem: read_rows(path) for path in (tmp_path / "out" / "audiences").glob("*.csv")}
    members = [row["customer_key"] for rows in audiences.values() for row in rows]
    assert len(members) == len(set(members)) == scored > 400
    assert all(row["segment"] == "Champions" for row in audiences["champions"])

    ids = sorted(ledger(tmp_path))[:3]
    for order_id in ids:
        fake.update_order(int(order_id), displayFinancialStatus="REFUNDED", amount="0.00")
    code, out, err = cli("sync", "--config", config, "--store", "shop")
    assert code == 0, err
    assert "3 orders pulled" in out
    assert all(ledger(tmp_path)[i] == 0 for i in ids)
    assert ledger(tmp_path) == expected(fake)
    # The look-back (60 minutes) re-reads the 3 orders updated just before the last run: the
    # upsert absorbs the overlap and nothing changes for the sink.
    code, out, _ = cli("sync", "--config", config, "--store", "shop")
    assert code == 0 and "3 orders pulled" in out and "0 changes sent" in out
    assert ledger(tmp_path) == expected(fake)
    assert fake.min_available >= 0 and fake.throttled_in_a_row == 0


def test_sync_without_backfill_pages_the_whole_history(cli: Cli, fake: FakeShopify, config: Path,
                                                      tmp_path: Path) -> None:
    fake.generate_orders(1200, customers=300, seed=22, end=utc_now() - timedelta(hours=3))
    code, out, err = cli("sync", "--config", config)
    assert code == 0, err
    assert "1,200 orders pulled" in out
    assert ledger(tmp_path) == expected(fake)
    assert sum(1 for c in fake.calls if c.kind == "orders") == 5  # 4 x 250 + 200
    assert fake.min_available >= 0 and fake.throttled == 0


def test_a_revoked_token_fails_the_run_with_a_clear_message(cli: Cli, fake: FakeShopify, config: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SHOPIFY_TOKEN", "shpat_revoked")
    code, _, err = cli("sync", "--config", config)
    assert code == 1
    assert "Shopify refused the access token for acme.myshopify.com (401)" in err
    assert "shpat_revoked" not in err
