"""The csv sink and the csv (order file) source against the contracts."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rfmsync.connectors.base import Source
from rfmsync.connectors.csv.sink import CsvSink, CsvSinkConfig
from rfmsync.connectors.csv.source import CsvSource, CsvSourceConfig
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.models import Order
from rfmsync.testing import SinkContract, SourceContract


class TestCsvSinkContract(SinkContract):
    @pytest.fixture
    def platform(self, tmp_path: Path) -> Iterator[Path]:
        yield tmp_path / "out"

    def make_sink(self, platform: Path, retry: RetryPolicy) -> CsvSink:
        return CsvSink(CsvSinkConfig(type="csv", dir=platform), platform.parent)

    def _rows(self, platform: Path) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for path in sorted((platform / "audiences").glob("*.csv")):
            with open(path, newline="", encoding="utf-8") as handle:
                rows += list(csv.DictReader(handle))
        return rows

    def held(self, platform: Path) -> dict[str, str]:
        return {row["customer_key"]: row["segment"] for row in self._rows(platform)}

    def cells(self, platform: Path) -> dict[str, str]:
        return {row["customer_key"]: row["rfm_cell"] for row in self._rows(platform)}

    def requests(self, platform: Path) -> int:
        # Writes: any file created or rewritten changes this.
        files = [p for p in platform.rglob("*") if p.is_file()] if platform.exists() else []
        return len(files) + sum(p.stat().st_mtime_ns for p in files)

    def effects(self, platform: Path) -> int:
        # A replayed batch replaces its own lines at the end of the log instead of adding them again.
        with open(platform / "changes.csv", encoding="utf-8") as handle:
            return sum(1 for _ in handle)


@dataclass
class OrderFile:
    path: Path
    rows: dict[str, list[str]] = field(default_factory=dict)

    def write(self) -> None:
        with open(self.path, "w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["order_id", "customer_id", "email", "created_at", "total", "currency"])
            out.writerows(self.rows.values())


def _row(order: Order) -> list[str]:
    return [order.order_id, order.customer_key or "", order.email or "",
            order.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), str(order.amount), order.currency]


class TestCsvSourceContract(SourceContract):
    pages = False  # a file is one page: the ledger keeps it as one snapshot
    filters_since = False  # files carry no "updated at": every changed file is read whole

    @pytest.fixture
    def platform(self, tmp_path: Path) -> Iterator[OrderFile]:
        yield OrderFile(tmp_path / "orders.csv")

    def make_source(self, platform: OrderFile, retry: RetryPolicy, page_size: int) -> Source[Any]:
        return CsvSource(CsvSourceConfig(type="csv", path=platform.path), platform.path.parent, ZoneInfo("UTC"),
                         None, {})

    def add_orders(self, platform: OrderFile, orders: Sequence[Order]) -> None:
        platform.rows.update((o.order_id, _row(o)) for o in orders)
        platform.write()

    def update_order(self, platform: OrderFile, order: Order) -> None:
        self.add_orders(platform, [order])

    def add_bad_record(self, platform: OrderFile) -> bool:
        platform.rows["bad"] = ["4999", "9999", "", "the day before yesterday", "10.00", "EUR"]
        platform.write()
        return True
