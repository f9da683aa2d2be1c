"""Order webhooks into the ledger once in effect: duplicates and out-of-date events change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pipelinekit import NOW, MemorySource, RecordingSink, run, runtime
from rfmsync.core.models import Order
from rfmsync.sync import webhook_events
from rfmsync.sync.ledger import load_ledger
from rfmsync.sync.state import Database


def version(amount: str, minutes: int) -> Order:
    return Order(source="web", order_id="1001", customer_key="7", created_at=NOW - timedelta(days=1),
                 updated_at=NOW + timedelta(minutes=minutes), amount=Decimal(amount), currency="EUR")


def amounts(db: Database) -> list[int]:
    return load_ledger(db, "shop").batch.amount_units.tolist()


def test_three_deliveries_of_one_event_have_one_effect_and_an_older_event_none(db: Database) -> None:
    assert webhook_events.take(db, "shop", "web", "evt-1", [version("20.00", 5)]) == "applied"
    for _ in range(2):  # the platform retries the same delivery
        assert webhook_events.take(db, "shop", "web", "evt-1", [version("99.00", 9)]) == "duplicate"
    assert amounts(db) == [200_000]
    # orders/create arriving after orders/updated: older than the ledger's version, no effect.
    assert webhook_events.take(db, "shop", "web", "evt-0", [version("25.00", 1)]) == "stale"
    assert amounts(db) == [200_000]
    assert webhook_events.take(db, "shop", "web", "evt-2", [version("15.00", 30)]) == "applied"  # a refund
    assert amounts(db) == [150_000]
    assert webhook_events.counts(db, "shop") == {"applied": 2, "stale": 1}  # duplicates are not recorded twice


def test_a_realtime_run_pushes_what_webhooks_wrote_without_reading_a_source(db: Database) -> None:
    source, sink = MemorySource([]), RecordingSink(fields=["segment", "monetary"])
    store = runtime(source, sink)
    run(db, store)  # the scheduled run: nothing yet
    assert webhook_events.take(db, "shop", "mem", "evt-1", [version("20.00", 5).model_copy(
        update={"source": "mem"})]) == "applied"
    summary = run(db, store, kind="realtime")
    assert summary.outcome == "ok" and summary.orders_pulled == 0 and len(source.calls) == 1  # the first run only
    assert [(c.customer_key, c.fields["monetary"]) for c in sink.changes()] == [("7", "20.00")]
    assert db.conn.execute("SELECT kind FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == "realtime"
