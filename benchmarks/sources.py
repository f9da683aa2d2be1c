"""Backfill of 100,000 orders from each source's loopback fake into the ledger: requests made
against the fewest the page limits allow, and wall time (rfmsync and the fake on one machine).

- WooCommerce: 100 orders a page (its maximum, §2.1): the fewest is ceil(orders / 100) pages and
  ceil(products / 100) product lookups for the lines' categories. Plain HTTP with OAuth 1.0a here
  (the fake is on loopback), one signature per request.
- Square: 1,000 orders a search page (its maximum, §3.1) and 100 customers a bulk-retrieve: the
  fewest is one locations call, ceil(orders / 1,000) pages, ceil(customers / 100) customer calls
  and two catalog calls (variations with their items, then the categories) per 1,000 variations.

    python benchmarks/sources.py [--orders 100000]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lib"))
from fake_square import TOKEN, FakeSquare
from fake_woocommerce import KEY, SECRET, FakeWooCommerce
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.square.config import SquareSourceConfig
from rfmsync.connectors.square.source import SquareSource
from rfmsync.connectors.woocommerce.config import WooCommerceSourceConfig
from rfmsync.connectors.woocommerce.source import WooCommerceSource
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.ledger import order_count
from rfmsync.sync.pipeline import RunOptions, StoreRuntime, run_store
from rfmsync.sync.state import Database

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(5)
    products = 500
    with FakeWooCommerce() as woo, tempfile.TemporaryDirectory() as folder:
        for p in range(1, products + 1):
            woo.add_product(p, f"Category {p % 40}")
        for i in range(1, args.orders + 1):
            created = NOW - timedelta(seconds=rng.randrange(1, 700 * 86400))
            guest = rng.random() < 0.2
            woo.add_order(id=i, total=f"{rng.randrange(500, 40000) / 100:.2f}", created=created,
                          customer_id=0 if guest else 1 + rng.randrange(args.orders // 4),
                          email=f"buyer{rng.randrange(args.orders // 4)}@example.com",
                          status=rng.choice(["completed"] * 8 + ["processing", "cancelled"]),
                          refunds=("5.00",) if rng.random() < 0.05 else (),
                          lines=tuple((1 + rng.randrange(products), "10.00", "1.90")
                                      for _ in range(rng.randrange(1, 4))))
        config = WooCommerceSourceConfig(type="woocommerce", name="woo", site=woo.base_url,  # type: ignore[arg-type]
                                         consumer_key=KEY, consumer_secret=SECRET, allow_http=True)
        source = WooCommerceSource(config, retry=RetryPolicy())
        db = Database(Path(folder))
        store = StoreRuntime(name="bench", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                             sinks=[])
        started = time.perf_counter()
        summary = run_store(db, store, RunOptions(kind="backfill", now=NOW))
        seconds = time.perf_counter() - started
        assert summary.outcome == "ok" and order_count(db, "bench") == args.orders
        fewest = math.ceil(args.orders / 100) + math.ceil(products / 100)
        print(f"woocommerce backfill: {args.orders:,} orders with lines of {products} products, {woo.received:,} "
              f"requests ({woo.received_by_kind['products']} product lookups; fewest {fewest:,}), "
              f"{seconds:.1f} s ({args.orders / seconds:,.0f} orders/s)")
        db.close()
    with FakeSquare(locations=("L1", "L2", "L3")) as square, tempfile.TemporaryDirectory() as folder:
        customers = args.orders // 4
        for c in range(customers):
            square.add_customer(f"C{c}", email=f"buyer{c}@example.com" if c % 3 else None, phone=f"+49151{c:08d}")
        variations = 300
        for v in range(variations):
            square.add_item(f"ITEM{v}", (f"VAR{v}",), f"Category {v % 40}")
        for i in range(args.orders):
            created = NOW - timedelta(seconds=rng.randrange(1, 700 * 86400))
            square.add_order(f"O{i}", location=f"L{1 + i % 3}", cents=rng.randrange(300, 9000), created=created,
                             customer=f"C{rng.randrange(customers)}" if rng.random() < 0.7 else None,
                             state=rng.choice(["COMPLETED"] * 9 + ["CANCELED"]),
                             lines=((f"VAR{rng.randrange(variations)}", 1000),))
        source_square = SquareSource(SquareSourceConfig(type="square", name="pos", access_token=TOKEN,  # type: ignore[arg-type]
                                                        base_url=square.base_url, limit=1000), retry=RetryPolicy())
        db = Database(Path(folder))
        store = StoreRuntime(name="bench", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                             sources=[source_square], sinks=[])
        started = time.perf_counter()
        summary = run_store(db, store, RunOptions(kind="backfill", now=NOW))
        seconds = time.perf_counter() - started
        assert summary.outcome == "ok" and order_count(db, "bench") == args.orders
        seen = len({o["customer_id"] for o in square.orders.values() if o.get("customer_id")})
        fewest = 1 + math.ceil(args.orders / 1000) + math.ceil(seen / 100) + 2 * math.ceil(variations / 1000)
        print(f"square backfill: {args.orders:,} orders of {seen:,} customers and {variations} variations, "
              f"{square.received:,} requests ({square.received_by_kind['catalog']} catalog; fewest {fewest:,}: "
              f"customer and catalog calls go per page), {seconds:.1f} s ({args.orders / seconds:,.0f} orders/s)")
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
