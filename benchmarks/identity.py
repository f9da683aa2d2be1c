"""One customer across sources (sync/identity.py): what matching a web shop's and a point of sale's
customers adds to loading the ledger, side by side with the same ledger loaded without matching
(each source's keys as they are, the cost before matching existed) in the same run.

A store of `--customers` web customers (4 orders each) and as many POS customers (2 orders each),
half of whom are web customers too (same email, or only the same phone). Timed: the reference load,
the first run with two sources (every identity new: matched and written), a later run (nothing new),
and a run after 1 % new customers arrived on each side.

    python benchmarks/identity.py [--customers 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rfmsync.core.models import Order
from rfmsync.sync import ledger
from rfmsync.sync.identity import SINGLE_SOURCE
from rfmsync.sync.ledger import Ledger, load_ledger, upsert_orders
from rfmsync.sync.state import Database

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SOURCES = ["web", "pos"]


def orders(first: int, count: int, rng: random.Random) -> tuple[list[Order], list[Order]]:
    web: list[Order] = []
    pos: list[Order] = []
    for c in range(first, first + count):
        for n in range(4):
            web.append(Order(source="web", order_id=f"w{c}-{n}", customer_key=f"W{c}", email=f"buyer{c}@example.com",
                             phone=f"0151 {c:08d}" if c % 2 else None, currency="EUR",
                             created_at=NOW - timedelta(days=rng.randrange(1, 700)), amount=Decimal("20.00")))
        shared = c % 2 == 0  # half the POS customers are web customers (by email, or by phone only)
        email = f"buyer{c}@example.com" if shared and c % 4 == 0 else (None if shared else f"pos{c}@example.com")
        phone = f"+49151{c:08d}" if shared and c % 4 == 2 else None
        if shared and c % 4 == 2:
            phone = f"+49151{c + 1:08d}"  # the odd neighbour's phone: that web customer, matched by phone
        for n in range(2):
            pos.append(Order(source="pos", order_id=f"p{c}-{n}", customer_key=f"P{c}", email=email, phone=phone,
                             currency="EUR", created_at=NOW - timedelta(days=rng.randrange(1, 700)),
                             amount=Decimal("9.00")))
    return web, pos


def timed(load: Callable[[], Ledger]) -> tuple[float, Ledger]:
    started = time.perf_counter()
    result = load()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(13)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder))
        web, pos = orders(0, args.customers, rng)
        for source, batch in (("web", web), ("pos", pos)):
            for start in range(0, len(batch), 10_000):
                upsert_orders(db, "bench", source, batch[start:start + 10_000], None)
        total = len(web) + len(pos)

        def load() -> Ledger:
            return load_ledger(db, "bench", source_order=SOURCES, phone_region="DE")

        resolve = ledger._resolve
        ledger._resolve = lambda *a, **k: SINGLE_SOURCE  # type: ignore[assignment]  # the reference: no matching
        timed(load)  # warm: the first read of the state pays for the disk cache
        reference, plain = timed(load)
        ledger._resolve = resolve
        first, matched = timed(load)
        later, _ = timed(load)
        more_web, more_pos = orders(args.customers, args.customers // 100, rng)
        upsert_orders(db, "bench", "web", more_web, None)
        upsert_orders(db, "bench", "pos", more_pos, None)
        grown, after = timed(load)
        print(f"identity: {total:,} orders of {len(plain.batch.customer_ids):,} source customers")
        print(f"  reference (no matching):         {reference:.2f} s")
        print(f"  first run with two sources:      {first:.2f} s, {len(matched.batch.customer_ids):,} customers, "
              f"{matched.identity.multi_source:,} in both")
        print(f"  next run, nothing new:           {later:.2f} s")
        print(f"  after 1 % new customers:         {grown:.2f} s, {after.identity.multi_source:,} in both")
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
