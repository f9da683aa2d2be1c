"""Ad audiences through the whole run loop against the loopback Meta and Google fakes: a first push
of 100,000 customers, then new orders for 1 % of them.

Then a --full-resync of the same state: Meta replaces each audience through usersreplace
sessions, Google empties each list with removeAll and ingests everyone again.

Reports, per platform, the requests made against the fewest the documented limits allow, and wall
time. The fewest, per run:
- Meta: listing the ad account's audiences once, one create per audience, then per audience
  ceil(rows / 10,000) adds and ceil(rows / 10,000) removals (§6.2). rfmsync cuts removals to DELETE
  URLs under 12 KB (Graph hangs up on long ones), which is more than the documented minimum.
- Google: per user list ceil(members / 10,000) ingests and as many removals, each polled at least
  once (requestStatus, §7.2).

    python benchmarks/ads.py [--customers 100000] [--change-share 0.01]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lib"))
from fake_google import FakeGoogle
from fake_meta import FakeMeta
from rfmsync.connectors import identifiers
from rfmsync.connectors.base import Contact, OrderPage, PageToken
from rfmsync.connectors.google.config import GoogleSinkConfig
from rfmsync.connectors.google.sink import GoogleSink
from rfmsync.connectors.meta.config import MetaSinkConfig
from rfmsync.connectors.meta.sink import MetaSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.models import Order
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.pipeline import RunOptions, StoreRuntime, run_store
from rfmsync.sync.state import Database

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
LISTS = {"Champions": "555", "Loyal Customers": "556", "At Risk": "557", "Lost": "558"}
ROW_LIMIT = 10_000


class Orders:
    name = "orders"
    cursor_model: ClassVar[type[PageToken]] = PageToken

    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders

    def pull(self, since: datetime | None, until: datetime, cursor: PageToken | None) -> Iterator[OrderPage]:
        chosen = [o for o in self.orders if since is None or (o.updated_at or o.created_at) >= since]
        for start in range(0, len(chosen), 50_000):
            yield OrderPage(chosen[start:start + 50_000])

    def close(self) -> None:
        pass


def make_orders(customers: int, rng: random.Random) -> list[Order]:
    orders = []
    for n in range(customers):
        consent = rng.random() < 0.8
        for i in range(1 + rng.randrange(3)):
            when = NOW - timedelta(days=rng.randrange(1, 720))
            orders.append(Order(source="orders", order_id=f"{n}-{i}", customer_key=str(n),
                                email=f"customer{n}@example.com", phone=f"0151 {n:08d}" if n % 2 else None,
                                created_at=when, updated_at=when, amount=Decimal(rng.randrange(500, 40_000)) / 100,
                                currency="EUR", email_consent=consent, sms_consent=consent and n % 4 == 1))
    return orders


def fewest_meta(sizes_added: dict[str, int], sizes_removed: dict[str, int], new_audiences: int) -> int:
    setup = (1 + new_audiences) if new_audiences else 0
    return setup + sum(math.ceil(n / ROW_LIMIT) for n in sizes_added.values()) + sum(
        math.ceil(n / ROW_LIMIT) for n in sizes_removed.values())


def counts(sent: list[tuple[str, str, list[tuple[str, ...]]]], op: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, audience, rows in sent:
        if kind == op:
            out[audience] = out.get(audience, 0) + len(rows)
    return out


def google_counts(google: FakeGoogle, kind: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for pending in google.requests_made.values():
        if pending.kind == kind:
            for _, list_id in pending.destinations:
                out[list_id] = out.get(list_id, 0) + len(pending.members)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--change-share", type=float, default=0.01)
    args = parser.parse_args()
    rng = random.Random(7)
    source = Orders(make_orders(args.customers, rng))
    with FakeMeta() as meta, FakeGoogle(lists=tuple(LISTS.values()), polls_per_request=0) as google, \
            tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder))
        quiet = RetryPolicy(sleep=lambda _: None)

        def store() -> StoreRuntime:
            meta_sink = MetaSink(MetaSinkConfig(type="meta", access_token=meta.token, ad_account_id=meta.ad_account,  # type: ignore[arg-type]
                                                base_url=meta.base_url, default_phone_region="DE"), retry=quiet)
            google_sink = GoogleSink(GoogleSinkConfig(type="google", access_token="ya29.fake",  # type: ignore[arg-type]
                                                      operating_account_id="1234567890", user_lists=LISTS,
                                                      base_url=google.base_url, default_phone_region="DE",
                                                      poll_seconds=0), retry=quiet)
            return StoreRuntime(name="bench", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                                sources=[source], sinks=[meta_sink, google_sink])

        member_sink = store().sinks[0]
        assert isinstance(member_sink, MetaSink)
        start = time.perf_counter()
        for n in range(args.customers):
            member_sink.member("Champions", Contact(f"customer{n}@example.com", f"0151 {n:08d}" if n % 2 else None,
                                                    True, True))
        member_seconds = time.perf_counter() - start
        identifiers._e164.cache_clear()  # the runs below start cold, as a cron-started run does

        print(f"{args.customers:,} customers, {len(source.orders):,} orders; Meta gets every segment, Google "
              f"{len(LISTS)} user lists")
        print(f"member texts (normalize + SHA-256 of email and phone), cold: {member_seconds:.2f} s for "
              f"{args.customers:,}")
        at = NOW
        for label in ("first push", "1% change", "full resync"):
            meta_before, google_before = meta.received, google.received
            meta.sent.clear()
            google.requests_made.clear()
            audiences_before = len(meta.audiences)
            started = time.perf_counter()
            summary = run_store(db, store(), RunOptions(now=at, full_resync=label == "full resync"))
            seconds = time.perf_counter() - started
            assert summary.outcome == "ok", [s.error for s in summary.sinks]
            meta_sink_outcome, google_outcome = summary.sinks
            meta_requests = meta.received - meta_before
            meta_min = fewest_meta(counts(meta.sent, "add") or counts(meta.sent, "replace"),
                                   counts(meta.sent, "remove"), len(meta.audiences) - audiences_before)
            google_requests = google.received - google_before
            google_calls = sum(math.ceil(n / ROW_LIMIT) for n in google_counts(google, "ingest").values()) + sum(
                math.ceil(n / ROW_LIMIT) for n in google_counts(google, "remove").values()) + any(
                p.kind == "removeAll" for p in google.requests_made.values())
            print(f"\n{label}: {seconds:.1f} s for the whole run (pull, score, both sinks)")
            print(f"  meta:   {meta_sink_outcome.changes:>7,} changes, {meta_requests:>4} requests "
                  f"(fewest the limits allow: {meta_min}); {sum(meta_sink_outcome.audiences.values()):,} members "
                  f"in {len(meta_sink_outcome.audiences)} audiences")
            print(f"  google: {google_outcome.changes:>7,} changes, {google_requests:>4} requests "
                  f"(fewest: {2 * google_calls}, each request polled once); "
                  f"{sum(google_outcome.audiences.values()):,} members in {len(google_outcome.audiences)} lists")
            if label != "first push":
                continue
            # 1 % of the customers buy again a day later.
            at = NOW + timedelta(days=1)
            for n in rng.sample(range(args.customers), int(args.customers * args.change_share)):
                when = at - timedelta(hours=2)
                source.orders.append(Order(source="orders", order_id=f"{n}-new{label}", customer_key=str(n),
                                           email=f"customer{n}@example.com", created_at=when, updated_at=when,
                                           amount=Decimal("80.00"), currency="EUR"))
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
