"""Sync run cost on a store with 1,000,000 orders in the state.

Times, in one process on one state:
  1. the first run (every customer is new to the sink),
  2. a run with no new orders (must push 0 changes),
  3. a run after 1% of customers placed a new order (pushes what that changed).
All runs score as of the same day, so recency alone moves nobody. The sink is the csv sink, so the
numbers include writing the changes log and the audience files.

    python benchmarks/sync.py [--orders 1000000] [--customers 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from datagen import STATUSES, generate  # run as a script: benchmarks/ is on sys.path
from rfmsync.connectors.base import OrderPage
from rfmsync.connectors.csv_sink import CsvSink, CsvSinkConfig
from rfmsync.core.models import Order
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.ledger import load_ledger
from rfmsync.sync.pipeline import RunOptions, StoreRuntime, run_store
from rfmsync.sync.state import Database

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
STORE = "bench"


@dataclass
class ListSource:
    name: str = "shop"
    orders: list[Order] = field(default_factory=list)

    def pull(self, since: datetime | None, until: datetime, cursor: str | None) -> Iterator[OrderPage]:
        for start in range(0, len(self.orders), 250):
            yield OrderPage(self.orders[start:start + 250])


def fill_ledger(db: Database, n_orders: int, n_customers: int) -> None:
    """Bulk insert, as a backfill would leave the ledger (the source path is benchmarked elsewhere)."""
    data = generate(n_orders, n_customers)
    statuses = {0: "paid", 1: "cancelled", 2: "refunded", 3: "partially_refunded"}
    assert len(STATUSES) == len(statuses)
    rows = zip([STORE] * n_orders, ["shop"] * n_orders, (f"o{i}" for i in range(n_orders)),
               (f"c{c}" for c in data.customer.tolist()), (f"c{c}@example.com" for c in data.customer.tolist()),
               data.created.tolist(), data.created.tolist(), (data.cents * 100).tolist(), ["EUR"] * n_orders,
               (statuses[s] for s in data.status.tolist()), strict=True)
    with db.transaction() as conn:
        conn.executemany("INSERT INTO orders (store, source, order_id, customer_key, email, created_utc, "
                         "updated_utc, amount_units, currency, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def timed_run(db: Database, store: StoreRuntime, at: datetime) -> tuple[float, int, int]:
    start = time.perf_counter()
    summary = run_store(db, store, RunOptions(now=at))
    elapsed = time.perf_counter() - start
    assert summary.outcome == "ok", summary.outcome
    return elapsed, summary.customers_scored, summary.sinks[0].changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rfmsync-bench-") as tmp:
        db = Database(Path(tmp) / "state")
        start = time.perf_counter()
        fill_ledger(db, args.orders, args.customers)
        print(f"ledger filled with {args.orders:,} orders for {args.customers:,} customers in "
              f"{time.perf_counter() - start:.1f} s (not part of any run)")
        sink = CsvSink(CsvSinkConfig(type="csv", dir=Path(tmp) / "out"), Path(tmp))
        source = ListSource()
        store = StoreRuntime(name=STORE, tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                             sinks=[sink])
        start = time.perf_counter()
        load_ledger(db, STORE)
        load_seconds = time.perf_counter() - start

        first = timed_run(db, store, NOW)
        quiet = timed_run(db, store, NOW + timedelta(minutes=5))
        rng = np.random.default_rng(7)
        movers = rng.choice(args.customers, size=int(args.customers * args.changed_share), replace=False)
        at = NOW + timedelta(minutes=10)
        source.orders = [Order(source="shop", order_id=f"new{i}", customer_key=f"c{c}", created_at=at - timedelta(
            minutes=1), updated_at=at - timedelta(minutes=1), amount=Decimal("45.00"), currency="EUR")
            for i, c in enumerate(movers.tolist())]
        changed = timed_run(db, store, at)
        db.close()

    print(f"\nsync runs on a {args.orders:,}-order store ({first[1]:,} customers scored; loading the ledger "
          f"alone takes {load_seconds:.2f} s)\n")
    print(f"{'run':<48} {'time (s)':>9} {'changes pushed':>15}")
    print(f"{'-' * 48} {'-' * 9} {'-' * 15}")
    print(f"{'first run (every customer new to the sink)':<48} {first[0]:>9.2f} {first[2]:>15,}")
    print(f"{'no new orders':<48} {quiet[0]:>9.2f} {quiet[2]:>15,}")
    label = f"{len(movers):,} customers ({args.changed_share:.0%}) with a new order"
    print(f"{label:<48} {changed[0]:>9.2f} {changed[2]:>15,}")
    if quiet[2] != 0:
        print("FAILED: a run with no new orders pushed changes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
