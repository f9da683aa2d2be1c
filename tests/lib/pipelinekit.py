"""An in-memory source and a recording sink for run-loop tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from rfmsync.connectors.base import OrderPage, PageToken, PushResult
from rfmsync.core.diff import Change
from rfmsync.core.errors import TransientError
from rfmsync.core.models import Order, OrderStatus
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.pipeline import RunOptions, RunSummary, StoreRuntime, run_store
from rfmsync.sync.state import Database

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def order(order_id: str, customer: str, days_ago: int, amount: str, status: OrderStatus = OrderStatus.PAID,
          updated_days_ago: int | None = None, email: str | None = None) -> Order:
    created = NOW - timedelta(days=days_ago)
    updated = NOW - timedelta(days=updated_days_ago if updated_days_ago is not None else days_ago)
    return Order(source="mem", order_id=order_id, customer_key=customer, email=email, created_at=created,
                 updated_at=updated, amount=Decimal(amount), currency="EUR", status=status)


@dataclass
class MemorySource:
    orders: list[Order] = field(default_factory=list)
    page_size: int = 2
    calls: list[tuple[datetime | None, datetime]] = field(default_factory=list)
    name: str = "mem"
    closed: int = 0
    cursor_model: ClassVar[type[PageToken]] = PageToken

    def close(self) -> None:
        self.closed += 1

    def pull(self, since: datetime | None, until: datetime, cursor: PageToken | None) -> Iterator[OrderPage]:
        self.calls.append((since, until))
        chosen = [o for o in self.orders if (since is None or (o.updated_at or o.created_at) >= since)
                  and (o.updated_at or o.created_at) < until]
        for start in range(0, len(chosen), self.page_size):
            yield OrderPage(chosen[start:start + self.page_size])


@dataclass
class RecordingSink:
    name: str = "rec"
    batch_size: int = 100
    fields: list[str] = field(default_factory=lambda: ["segment", "rfm_cell"])
    fail_with: Exception | None = None
    reject: dict[str, str] = field(default_factory=dict)
    pushes: list[tuple[str, list[Change]]] = field(default_factory=list)
    closed: int = 0

    def close(self) -> None:
        self.closed += 1

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        if self.fail_with is not None:
            raise self.fail_with
        self.pushes.append((batch_id, list(changes)))
        return PushResult(accepted=[c.customer_key for c in changes if c.customer_key not in self.reject],
                          rejected={k: v for k, v in self.reject.items() if k in {c.customer_key for c in changes}})

    def changes(self) -> list[Change]:
        return [c for _, batch in self.pushes for c in batch]

    def state(self) -> dict[str, str]:
        """customer -> segment as the platform would hold it after every push so far."""
        held: dict[str, str] = {}
        for change in self.changes():
            if change.new_segment is None:
                held.pop(change.customer_key, None)
            else:
                held[change.customer_key] = change.new_segment
        return held


def runtime(source: MemorySource, *sinks: RecordingSink, settings: RfmSettings | None = None,
            name: str = "shop") -> StoreRuntime:
    return StoreRuntime(name=name, tz_name="UTC", settings=settings or RfmSettings(scheme="classic"),
                        sources=[source], sinks=list(sinks))


def run(db: Database, store: StoreRuntime, at: datetime = NOW, **options: object) -> RunSummary:
    return run_store(db, store, RunOptions(now=at, **options))  # type: ignore[arg-type]


def open_db(tmp_path: Path) -> Database:
    return Database(tmp_path / "state")


TRANSIENT = TransientError("POST https://example.invalid/: 503 Service Unavailable")
