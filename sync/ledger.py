"""The order ledger and source cursors: upsert by (source, order id), newest version wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from rfmsync.core.batch import OrderBatch, factorize, to_units
from rfmsync.core.models import STATUS_CODES, Order, OrderStatus, normalize_email
from rfmsync.sync.state import Database

_UPSERT = """
INSERT INTO orders (store, source, order_id, customer_key, email, phone, created_utc, updated_utc,
                    amount_units, currency, status, channel)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (store, source, order_id) DO UPDATE SET
    customer_key = excluded.customer_key, email = excluded.email, phone = excluded.phone,
    created_utc = excluded.created_utc, updated_utc = excluded.updated_utc,
    amount_units = excluded.amount_units, currency = excluded.currency, status = excluded.status,
    channel = excluded.channel
WHERE excluded.updated_utc >= orders.updated_utc
"""


@dataclass(frozen=True)
class Cursor:
    since: datetime | None  # pull orders updated from here (minus the look-back) next time
    position: str | None  # source-specific resume point (a file fingerprint, a GraphQL cursor)


def _row(store: str, order: Order) -> tuple[object, ...]:
    created = int(order.created_at.timestamp())
    updated = int(order.updated_at.timestamp()) if order.updated_at else created
    return (store, order.source, order.order_id, order.customer_key, order.email, order.phone, created, updated,
            to_units(order.amount), order.currency, order.status.value, order.channel)


_SET_CURSOR = ("INSERT INTO cursors (store, source, since_utc, cursor) VALUES (?, ?, ?, ?) ON CONFLICT "
               "(store, source) DO UPDATE SET since_utc = excluded.since_utc, cursor = excluded.cursor")


def _cursor_row(store: str, key: str, cursor: Cursor) -> tuple[object, ...]:
    return (store, key, int(cursor.since.timestamp()) if cursor.since else None, cursor.position)


def upsert_orders(db: Database, store: str, source: str, orders: Sequence[Order], cursor: Cursor | None,
                  cursor_key: str | None = None) -> None:
    """Writes a page of orders and, in the same transaction, the cursor that covers them."""
    with db.transaction() as conn:
        conn.executemany(_UPSERT, [_row(store, o) for o in orders])
        if cursor is not None:
            conn.execute(_SET_CURSOR, _cursor_row(store, cursor_key or source, cursor))


def set_cursor(db: Database, store: str, source: str, cursor: Cursor, clear: str | None = None) -> None:
    """Moves a source's cursor; `clear` removes another key (a finished backfill's resume point) with it."""
    with db.transaction() as conn:
        conn.execute(_SET_CURSOR, _cursor_row(store, source, cursor))
        if clear is not None:
            conn.execute("DELETE FROM cursors WHERE store = ? AND source = ?", (store, clear))


def get_cursor(db: Database, store: str, source: str) -> Cursor:
    row = db.conn.execute("SELECT since_utc, cursor FROM cursors WHERE store = ? AND source = ?",
                          (store, source)).fetchone()
    if row is None:
        return Cursor(None, None)
    since = datetime.fromtimestamp(row[0], UTC) if row[0] is not None else None
    return Cursor(since, row[1])


def clear_cursors(db: Database, store: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM cursors WHERE store = ?", (store,))


def order_count(db: Database, store: str) -> int:
    return int(db.conn.execute("SELECT COUNT(*) FROM orders WHERE store = ?", (store,)).fetchone()[0])


@dataclass(frozen=True)
class Ledger:
    """A store's scorable orders as columns, plus what the reports and sinks need beside them."""

    batch: OrderBatch
    currencies: list[str]  # per order, for conversion or exclusion
    contacts: dict[str, tuple[str | None, str | None]]  # customer key -> (email, phone), newest order's
    orders_total: int
    orders_without_customer: int
    customers_without_email: int


def load_ledger(db: Database, store: str, *, merge_guests_by_email: bool = False) -> Ledger:
    """All of a store's orders, every source together, as one customer base.

    Guests (no customer id) are merged by normalized email when the store allows it; orders with
    neither stay in the ledger and are counted, not scored.
    """
    rows = db.conn.execute(
        "SELECT customer_key, email, phone, created_utc, amount_units, currency, status FROM orders "
        "WHERE store = ? ORDER BY updated_utc", (store,)).fetchall()
    keys: list[str] = []
    created: list[int] = []
    amounts: list[int] = []
    statuses: list[str] = []
    currencies: list[str] = []
    contacts: dict[str, tuple[str | None, str | None]] = {}
    without_customer = 0
    for key, email, phone, created_utc, units, currency, status in rows:
        if key is None and merge_guests_by_email and email:
            key = "email:" + normalize_email(email)
        if key is None:
            without_customer += 1
            continue
        keys.append(key)
        created.append(created_utc)
        amounts.append(units)
        statuses.append(status)
        currencies.append(currency)
        if email or phone:
            previous = contacts.get(key, (None, None))
            contacts[key] = (email or previous[0], phone or previous[1])
    customer_ids, codes = factorize(keys)
    status_names, status_index = factorize(statuses)
    status_table = np.asarray([STATUS_CODES[OrderStatus(s)] for s in status_names], dtype=np.uint8)
    batch = OrderBatch(
        customer_ids=customer_ids,
        customer_codes=codes,
        created_utc=np.asarray(created, dtype=np.int64),
        amount_units=np.asarray(amounts, dtype=np.int64),
        status_codes=status_table[status_index] if len(statuses) else np.zeros(0, dtype=np.uint8),
    )
    no_email = sum(1 for cid in customer_ids if not contacts.get(cid, (None, None))[0])
    return Ledger(batch, currencies, contacts, len(rows), without_customer, no_email)
