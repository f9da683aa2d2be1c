"""Backfill of 100,000 orders from each source's loopback fake into the ledger: requests made
against the fewest the page limits allow, and wall time (rfmsync and the fake on one machine).

- WooCommerce: 100 orders a page (its maximum, §2.1): the fewest is ceil(orders / 100) pages.
  Plain HTTP with OAuth 1.0a here (the fake is on loopback), one signature per request.

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
from fake_woocommerce import KEY, SECRET, FakeWooCommerce
from rfmsync.connectors.retry import RetryPolicy
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
    with FakeWooCommerce() as woo, tempfile.TemporaryDirectory() as folder:
        for i in range(1, args.orders + 1):
            created = NOW - timedelta(seconds=rng.randrange(1, 700 * 86400))
            guest = rng.random() < 0.2
            woo.add_order(id=i, total=f"{rng.randrange(500, 40000) / 100:.2f}", created=created,
                          customer_id=0 if guest else 1 + rng.randrange(args.orders // 4),
                          email=f"buyer{rng.randrange(args.orders // 4)}@example.com",
                          status=rng.choice(["completed"] * 8 + ["processing", "cancelled"]),
                          refunds=("5.00",) if rng.random() < 0.05 else ())
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
        fewest = math.ceil(args.orders / 100)
        print(f"woocommerce backfill: {args.orders:,} orders, {woo.received:,} requests (fewest {fewest:,}), "
              f"{seconds:.1f} s ({args.orders / seconds:,.0f} orders/s)")
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
