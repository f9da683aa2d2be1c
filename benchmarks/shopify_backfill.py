"""Backfill of 200,000 orders from the loopback fake Shopify: bulk operation versus paged queries.

Both go through `run_store(kind="backfill")` into a SQLite ledger. The connector waits on the
fake's clock (sleep = fake.advance), so the script reports two times:
- wall: what rfmsync and the fake spend working (parsing, mapping, validating, storing);
- Shopify: the time Shopify would take at the plan's restore rate (Standard: 100 points/s,
  docs/platforms.md §1.3), i.e. the waits paging needs to stay inside the cost bucket, plus the bulk
  operation's polls (every 5 s) while Shopify prepares the file.

    python benchmarks/shopify_backfill.py [--orders 200000] [--restore-rate 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Not named shopify.py: with benchmarks/ on sys.path (as when run, or in the benchmark tests) it
# would shadow the ShopifyAPI package, `import shopify`. The fake lives with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lib"))
from fake_shopify import FakeShopify
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.shopify.source import ShopifySource, ShopifySourceConfig
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.ledger import order_count
from rfmsync.sync.pipeline import RunOptions, StoreRuntime, run_store
from rfmsync.sync.state import Database

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)


def backfill(n_orders: int, restore_rate: float, bulk: bool) -> dict[str, float]:
    with FakeShopify(now=NOW, time_scale=0, restore_rate=restore_rate) as fake, \
            tempfile.TemporaryDirectory(prefix="rfmsync-shopify-") as tmp:
        fake.generate_orders(n_orders, customers=n_orders // 8, seed=1, end=NOW - timedelta(days=1))
        config = ShopifySourceConfig(type="shopify", shop="acme.myshopify.com", base_url=fake.base_url,
                                     access_token="shpat_static", bulk_backfill=bulk)  # type: ignore[arg-type]
        source = ShopifySource(config, retry=RetryPolicy(sleep=fake.advance), sleep=fake.advance,
                               clock=fake.elapsed, wall_clock=lambda: fake.now.timestamp())
        db = Database(Path(tmp))
        store = StoreRuntime(name="bench", tz_name="UTC", settings=RfmSettings(), sources=[source], sinks=[])
        start = time.perf_counter()
        summary = run_store(db, store, RunOptions(kind="backfill", now=NOW))
        wall = time.perf_counter() - start
        assert summary.outcome == "ok" and order_count(db, "bench") == n_orders
        assert fake.min_available >= 0
        return {"requests": fake.requests + fake.bulk_downloads, "graphql": fake.requests, "wall": wall,
                "shopify": fake.elapsed(), "throttled": fake.throttled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    args = parser.parse_args()
    rows = {"bulk operation": backfill(args.orders, args.restore_rate, bulk=True),
            "paged orders queries": backfill(args.orders, args.restore_rate, bulk=False)}
    print(f"\nbackfill of {args.orders:,} orders into the ledger; Shopify restore rate {args.restore_rate:g} "
          "points/s, 1000-point bucket\n")
    print(f"{'method':<22} {'requests':>9} {'THROTTLED':>9} {'wall s':>8} {'orders/s':>9} {'Shopify s':>10} "
          f"{'orders/s':>9} {'total s':>8}")
    for name, r in rows.items():
        total = r["wall"] + r["shopify"]
        print(f"{name:<22} {int(r['requests']):>9,} {int(r['throttled']):>9} {r['wall']:>8.1f} "
              f"{args.orders / r['wall']:>9,.0f} {r['shopify']:>10.1f} {args.orders / max(r['shopify'], 1e-9):>9,.0f} "
              f"{total:>8.1f}")
    print("\nrequests: GraphQL requests plus result downloads. orders/s: over the wall time, then over the time "
          "Shopify itself would take; total = both, as a real backfill would see them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
