"""Order webhooks into the ledger: at least once in, exactly once in effect (issue 14).

A delivery's event id is recorded with its orders in one transaction, before the receiver answers
200: a retried or duplicated delivery finds its id and changes nothing, and a crash after the 200
cannot lose what was answered. An event older than what the ledger holds (webhooks arrive out of
order) changes nothing either: the ledger keeps the newer updated_at (sync/ledger.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Literal

from rfmsync.core.clock import utc_now
from rfmsync.core.models import Order
from rfmsync.sync.ledger import write_orders
from rfmsync.sync.state import Database

Outcome = Literal["applied", "duplicate", "stale"]


def take(db: Database, store: str, source: str, event_id: str, orders: Sequence[Order]) -> Outcome:
    """Records the event and writes its orders, once; says what it did."""
    with db.transaction() as conn:
        seen = conn.execute("SELECT 1 FROM webhook_events WHERE store = ? AND source = ? AND event_id = ?",
                            (store, source, event_id)).fetchone()
        if seen is not None:
            return "duplicate"
        outcome: Outcome = "stale" if orders and all(_stale(conn, store, source, o) for o in orders) else "applied"
        if outcome == "applied":
            write_orders(conn, store, source, orders)
        conn.execute("INSERT INTO webhook_events (store, source, event_id, received_utc, outcome) "
                     "VALUES (?, ?, ?, ?, ?)", (store, source, event_id, int(utc_now().timestamp()), outcome))
        return outcome


def _stale(conn: sqlite3.Connection, store: str, source: str, order: Order) -> bool:
    # Rows only: a source kept as a snapshot merges by updated_at too (the newer version stays),
    # but reports such an event as applied.
    row = conn.execute("SELECT updated_utc FROM orders WHERE store = ? AND source = ? AND order_id = ?",
                       (store, source, order.order_id)).fetchone()
    updated = int((order.updated_at or order.created_at).timestamp())
    return row is not None and int(row[0]) > updated


def counts(db: Database, store: str) -> dict[str, int]:
    """Events taken per outcome, for `status`."""
    return {outcome: int(n) for outcome, n in db.conn.execute(
        "SELECT outcome, COUNT(*) FROM webhook_events WHERE store = ? GROUP BY outcome", (store,))}
