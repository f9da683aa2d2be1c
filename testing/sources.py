"""The contract every source meets, as a pytest class to subclass (see rfmsync.testing.sinks).

A connector's test module subclasses `SourceContract`, gives a `platform` fixture and the methods
marked "give", and inherits these tests:

- pages hold every order exactly once, over more than one page where the source pages;
- resuming from any page's cursor yields exactly the pages after it;
- `since` bounds what is read (for sources that filter by time);
- two runs whose look-back windows overlap count each order once, with its newest version;
- a record the source refuses is reported with a position and a reason, the rest go through;
- no secret, email or phone reaches any log line or error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rfmsync.connectors.base import OrderPage, Source
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.batch import MONEY_SCALE
from rfmsync.core.models import Order, OrderStatus
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.ledger import load_ledger, order_count
from rfmsync.sync.pipeline import RunOptions, StoreRuntime, run_store
from rfmsync.sync.state import Database
from rfmsync.testing.common import NOW, Sleeps, nothing_private_logged, private_values, quick_policy


def contract_orders(n: int, *, start: int = 0, updated: datetime | None = None) -> list[Order]:
    """n orders of n // 2 + 1 customers, created over the 200 days before NOW, in order of update."""
    orders = []
    for i in range(start, start + n):
        created = NOW - timedelta(days=200) + timedelta(hours=7 * i)
        orders.append(Order(source="contract", order_id=str(5001 + i), customer_key=str(9001 + i // 2),
                            email=f"contract.buyer{i // 2}@example.com", created_at=created,
                            updated_at=updated or created + timedelta(hours=1), amount=Decimal(10 + i % 7 * 5),
                            currency="EUR", status=OrderStatus.PAID))
    return orders


def ids(pages: Sequence[OrderPage]) -> list[str]:
    found: list[str] = []
    for page in pages:
        found += [o.order_id for o in page.orders]
        if page.columns is not None:
            found += [str(i) for i in page.columns.order_id.tolist()]
    return found


class SourceContract:
    """Subclass and give: the `platform` fixture, `make_source`, `add_orders`, `page_size`;
    optionally `update_order`, `add_bad_record`, `secrets`, and the two flags."""

    # Reads in more than one page (and takes `page_size` from the test), or in one (a file).
    pages = True
    # Reads only what changed since `since`; a file source reads itself whole every time.
    filters_since = True

    # -- give ------------------------------------------------------------------------------------
    @pytest.fixture
    def platform(self) -> Iterator[Any]:
        raise NotImplementedError("give a `platform` fixture: the source's loopback fake or folder")

    def make_source(self, platform: Any, retry: RetryPolicy, page_size: int) -> Source[Any]:
        raise NotImplementedError

    def add_orders(self, platform: Any, orders: Sequence[Order]) -> None:
        """Puts the orders on the platform, with their ids, customers, times and amounts."""
        raise NotImplementedError

    def update_order(self, platform: Any, order: Order) -> None:
        """Replaces an order on the platform by `order` (same id; a later updated_at, a new amount)."""
        raise NotImplementedError

    def add_bad_record(self, platform: Any) -> bool:
        """Puts one record on the platform the source must refuse (no date, no id); False if none can be."""
        return False

    def secrets(self, platform: Any) -> list[str]:
        return []

    # -- the contract ----------------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _nothing_private_is_logged(self, platform: Any, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
        emails = [f"contract.buyer{i}@example.com" for i in range(200)]
        with nothing_private_logged(caplog, lambda: private_values(self.secrets(platform), emails, ())):
            yield

    def source(self, platform: Any, page_size: int = 5) -> Source[Any]:
        return self.make_source(platform, quick_policy(Sleeps()), page_size)

    def test_pages_hold_every_order_once(self, platform: Any) -> None:
        orders = contract_orders(12)
        self.add_orders(platform, orders)
        pages = list(self.source(platform, page_size=5).pull(None, NOW, None))
        assert sorted(ids(pages)) == sorted(o.order_id for o in orders)
        if self.pages:
            assert len([p for p in pages if p.size]) >= 3

    def test_resumes_from_each_pages_cursor(self, platform: Any) -> None:
        self.add_orders(platform, contract_orders(12))
        since = NOW - timedelta(days=400)
        full = list(self.source(platform, page_size=5).pull(since, NOW, None))
        for k, page in enumerate(full):
            assert page.cursor is not None, f"page {k} has no cursor to resume from"
            resumed = ids(list(self.source(platform, page_size=5).pull(since, NOW, page.cursor)))
            if k == len(full) - 1:
                # After the last page, nothing, or everything again: a source may mark its position
                # "finished" so that a next run with the same `since` starts over instead of after the end.
                assert resumed in ([], ids(full)), "resuming after the last page"
            else:
                assert resumed == ids(full[k + 1:]), f"resuming after page {k}"

    def test_since_bounds_what_is_read(self, platform: Any) -> None:
        if not self.filters_since:
            pytest.skip("this source reads everything on every run")
        orders = contract_orders(10)
        self.add_orders(platform, orders)
        since = orders[6].updated_at
        assert since is not None
        read = ids(list(self.source(platform).pull(since, NOW, None)))
        assert sorted(read) == sorted(o.order_id for o in orders[6:])

    def test_a_look_back_overlap_counts_each_order_once(self, platform: Any, tmp_path: Path) -> None:
        first = contract_orders(8)
        self.add_orders(platform, first)
        db = Database(tmp_path / "contract-state")
        store = StoreRuntime(name="contract", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                             sources=[self.source(platform)], sinks=[], lookback=timedelta(days=30))
        assert run_store(db, store, RunOptions(now=NOW)).outcome == "ok"
        later = NOW + timedelta(hours=2)
        changed = first[-1].model_copy(update={"amount": Decimal("99.00"), "updated_at": later - timedelta(hours=1)})
        self.update_order(platform, changed)
        self.add_orders(platform, contract_orders(2, start=8, updated=later - timedelta(minutes=30)))
        store = StoreRuntime(name="contract", tz_name="UTC", settings=RfmSettings(scheme="classic"),
                             sources=[self.source(platform)], sinks=[], lookback=timedelta(days=30))
        assert run_store(db, store, RunOptions(now=later)).outcome == "ok"
        assert order_count(db, "contract") == 10
        # Each order once, the changed one in its newest version: the ledger's total says both.
        newest = [*first[:-1], changed, *contract_orders(2, start=8)]
        total = sum((o.amount for o in newest), Decimal(0))
        assert int(load_ledger(db, "contract").batch.amount_units.sum()) == int(total * MONEY_SCALE)

    def test_a_refused_record_has_a_position_and_the_rest_go_through(self, platform: Any) -> None:
        orders = contract_orders(4)
        self.add_orders(platform, orders)
        if not self.add_bad_record(platform):
            pytest.skip("this platform holds no record the source would refuse")
        pages = list(self.source(platform).pull(None, NOW, None))
        rejects = [r for p in pages for r in p.rejects]
        assert len(rejects) == 1 and rejects[0].position and rejects[0].reason
        assert sorted(ids(pages)) == sorted(o.order_id for o in orders)
