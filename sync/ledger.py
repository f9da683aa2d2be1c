"""The order ledger and source cursors: upsert by (source, order id), newest version wins."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from rfmsync.connectors.base import Contact, OrderColumns
from rfmsync.core.batch import OrderBatch, to_units
from rfmsync.core.models import STATUS_CODES, Order
from rfmsync.sync import ledger_snapshots as snapshots
from rfmsync.sync.state import Database

_UPSERT = """
INSERT INTO orders (store, source, order_id, customer_key, email, phone, created_utc, updated_utc,
                    amount_units, currency, status, channel, email_consent, sms_consent)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (store, source, order_id) DO UPDATE SET
    customer_key = excluded.customer_key, email = excluded.email, phone = excluded.phone,
    created_utc = excluded.created_utc, updated_utc = excluded.updated_utc,
    amount_units = excluded.amount_units, currency = excluded.currency, status = excluded.status,
    channel = excluded.channel, email_consent = excluded.email_consent, sms_consent = excluded.sms_consent
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
            to_units(order.amount), order.currency, order.status.value, order.channel, _flag(order.email_consent),
            _flag(order.sms_consent))


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


_SET_CURSOR = ("INSERT INTO cursors (store, source, since_utc, cursor) VALUES (?, ?, ?, ?) ON CONFLICT "
               "(store, source) DO UPDATE SET since_utc = excluded.since_utc, cursor = excluded.cursor")


def _cursor_row(store: str, key: str, cursor: Cursor) -> tuple[object, ...]:
    return (store, key, int(cursor.since.timestamp()) if cursor.since else None, cursor.position)


def upsert_orders(db: Database, store: str, source: str, orders: Sequence[Order], cursor: Cursor | None,
                  cursor_key: str | None = None, columns: OrderColumns | None = None) -> None:
    """Writes a page of orders (as models and/or columns) and, in the same transaction, the cursor
    that covers them. Columns go to the source's snapshot, and so do models once it has one."""
    with db.transaction() as conn:
        if columns is not None and len(columns):
            snapshots.write(conn, store, source, snapshots.table_of_columns(columns))
        if orders and snapshots.has_snapshot(conn, store, source):
            snapshots.write(conn, store, source, snapshots.table_of_orders(orders))
        elif orders:
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


def order_count(db: Database, store: str) -> int:
    rows = int(db.conn.execute("SELECT COUNT(*) FROM orders WHERE store = ?", (store,)).fetchone()[0])
    return rows + snapshots.order_count(db, store)


@dataclass(frozen=True)
class Ledger:
    """A store's scorable orders as columns, plus counts for summaries."""

    batch: OrderBatch
    currency_names: Sequence[str]
    currency_codes: NDArray[np.int64]  # per order, into currency_names: for conversion or exclusion
    orders_total: int
    orders_without_customer: int


# The key an order scores under: the source's customer id, or for guests (when the store allows it)
# "email:" + the normalized email. SQLite's lower() folds ASCII only, as normalize_email's
# str.lower() does for the addresses shops hold; trim() drops the same spaces strip() does.
_KEY = ("COALESCE(customer_key, CASE WHEN ? AND email IS NOT NULL AND trim(email) != '' "
        "THEN 'email:' || lower(trim(email)) END)")
# Status text to STATUS_CODES in SQL: decoding a million strings in Python costs half a second.
_STATUS = "CASE status " + " ".join(f"WHEN '{s.value}' THEN {c}" for s, c in STATUS_CODES.items()) + " END"


def load_ledger(db: Database, store: str, *, merge_guests_by_email: bool = False) -> Ledger:
    """All of a store's orders, every source together (rows and snapshots), as one customer base.

    Guests (no customer id) are merged by normalized email when the store allows it; orders with
    neither stay in the ledger and are counted, not scored. Columns are joined and factorized by
    Arrow, never with a Python loop per order (which cost seconds per million orders).
    """
    merge = int(merge_guests_by_email)
    rows = db.conn.execute(f"SELECT {_KEY}, created_utc, amount_units, currency, {_STATUS} FROM orders "
                           f"WHERE store = ? AND {_KEY} IS NOT NULL", (merge, store, merge)).fetchall()
    keys, created, amounts, currencies, statuses = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    parts_keys = [pa.array(keys, type=pa.string())]
    parts_created = [np.asarray(created, dtype=np.int64)]
    parts_amounts = [np.asarray(amounts, dtype=np.int64)]
    parts_currencies = [pa.array(currencies, type=pa.string())]
    parts_statuses = [np.asarray(statuses, dtype=np.uint8)]
    total = order_count(db, store)
    table = snapshots.read_store(db, store)
    if table is not None:
        snapshot_keys = snapshots.customer_keys(table, merge_guests_by_email)
        scorable = pc.is_valid(snapshot_keys)
        table = table.filter(scorable)
        parts_keys.append(snapshot_keys.filter(scorable))
        parts_created.append(table["created_utc"].to_numpy())
        parts_amounts.append(table["amount_units"].to_numpy())
        parts_currencies.append(table["currency"].combine_chunks())
        parts_statuses.append(snapshots.status_codes(table))
    customer_keys = pa.concat_arrays(parts_keys).dictionary_encode()
    currency = pa.concat_arrays(parts_currencies).dictionary_encode()
    batch = OrderBatch(
        customer_ids=customer_keys.dictionary.to_pylist(),
        customer_codes=customer_keys.indices.to_numpy().astype(np.int64),
        created_utc=np.concatenate(parts_created),
        amount_units=np.concatenate(parts_amounts),
        status_codes=np.concatenate(parts_statuses),
    )
    return Ledger(batch, currency.dictionary.to_pylist(), currency.indices.to_numpy().astype(np.int64), total,
                  total - len(batch))


# Past this many customers one scan of the ledger beats chunked index look-ups (measured on 1M orders:
# 100k look-ups 5.6 s, one scan 1.4 s).
BULK_CONTACTS = 10_000


def contacts_for(db: Database, store: str, keys: Sequence[str], *, merge_guests_by_email: bool = False,
                 ) -> dict[str, tuple[str | None, str | None]]:
    """Email and phone of each customer, from their most recently updated order that has one.

    Only the customers a sink is about to be sent are looked up, through the indexes on customer id
    and guest email, so a run with few changes reads few rows; snapshots are filtered in Arrow.
    """
    found = _newest(db, store, keys, ("email", "phone"), merge_guests_by_email)
    return {key: (_str(v[0]), _str(v[1])) for key, v in found.items()}


def audience_contacts(db: Database, store: str, keys: Sequence[str], *, merge_guests_by_email: bool = False,
                      ) -> dict[str, Contact]:
    """Email, phone and the consent of each, each from the customer's most recently updated order
    that records it (consent is the customer's as of that order; an older order's refusal does not
    outlive a newer grant, nor the other way round)."""
    found = _newest(db, store, keys, ("email", "phone", "email_consent", "sms_consent"), merge_guests_by_email)
    return {key: Contact(_str(v[0]), _str(v[1]), _bool(v[2]), _bool(v[3])) for key, v in found.items()}


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _bool(value: object) -> bool | None:
    return None if value is None else bool(value)


def _newest(db: Database, store: str, keys: Sequence[str], columns: Sequence[str], merge_guests_by_email: bool,
            ) -> dict[str, list[object]]:
    """Per customer, each column's value from their most recently updated order that has one."""
    if not keys:
        return {}
    merge = int(merge_guests_by_email)
    newest: dict[str, list[tuple[object, int] | None]] = {}
    bulk = len(keys) > BULK_CONTACTS
    by_id = [k for k in keys if not k.startswith("email:")]
    guests = [k.removeprefix("email:") for k in keys if k.startswith("email:")] if merge_guests_by_email else []
    width = len(columns)
    for slot, column in enumerate(columns):
        for key, value, updated in (_all_rows_newest(db, store, merge, column) if bulk
                                    else _rows_newest(db, store, column, by_id, guests)):
            _keep_newer(newest, key, slot, value, updated, width)
    table = snapshots.read_store(db, store)
    if table is not None:
        snapshot_keys = snapshots.customer_keys(table, merge_guests_by_email)
        if not bulk:
            wanted = pc.fill_null(pc.is_in(snapshot_keys, value_set=pa.array(list(keys), type=pa.string())), False)
            table, snapshot_keys = table.filter(wanted), snapshot_keys.filter(wanted)
        for slot, column in enumerate(columns):
            for key, value, updated in snapshots.newest_values(table, snapshot_keys, column):
                _keep_newer(newest, key, slot, value, updated, width)
    return {key: [held[0] if held else None for held in pair] for key, pair in newest.items()}


def _keep_newer(newest: dict[str, list[tuple[object, int] | None]], key: str, slot: int, value: object,
                updated: int, width: int) -> None:
    pair = newest.get(key)
    if pair is None:
        pair = newest[key] = [None] * width
    held = pair[slot]
    if held is None or updated >= held[1]:
        pair[slot] = (value, updated)


def _rows_newest(db: Database, store: str, column: str, by_id: Sequence[str], guests: Sequence[str]
                 ) -> Iterator[tuple[str, object, int]]:
    present = _present(column)
    for start in range(0, len(by_id), 500):  # SQLite's default limit on bound parameters is 999+
        chunk = by_id[start:start + 500]
        # SQLite takes the bare column from the row holding MAX(): the newest order's value.
        query = (f"SELECT customer_key, {column}, MAX(updated_utc) FROM orders WHERE store = ? AND "
                 f"customer_key IN ({','.join('?' * len(chunk))}) AND {present} GROUP BY customer_key")
        yield from db.conn.execute(query, (store, *chunk))
    for start in range(0, len(guests), 500):
        chunk = guests[start:start + 500]
        query = (f"SELECT 'email:' || lower(trim(email)) AS g, {column}, MAX(updated_utc) FROM orders "
                 f"WHERE store = ? AND customer_key IS NULL AND lower(trim(email)) IN ({','.join('?' * len(chunk))})"
                 f" AND {present} GROUP BY g")
        yield from db.conn.execute(query, (store, *chunk))


def _present(column: str) -> str:
    # Text columns hold "" for nothing in rows written by older versions; consent is 0, 1 or NULL.
    return f"{column} IS NOT NULL" if column.endswith("_consent") else f"{column} IS NOT NULL AND {column} != ''"


def _all_rows_newest(db: Database, store: str, merge: int, column: str) -> Iterator[tuple[str, object, int]]:
    query = (f"SELECT {_KEY} AS key, {column}, MAX(updated_utc) FROM orders WHERE store = ? AND "
             f"{_present(column)} GROUP BY key HAVING key IS NOT NULL")
    yield from db.conn.execute(query, (merge, store))


def customers_without_email(db: Database, store: str, *, merge_guests_by_email: bool = False) -> int:
    """Scorable customers none of whose orders carries an email (for reports; reads every order)."""
    merge = int(merge_guests_by_email)
    has_email: dict[str, bool] = dict(db.conn.execute(
        f"SELECT {_KEY} AS key, MAX(email IS NOT NULL AND trim(email) != '') FROM orders WHERE store = ? "
        "GROUP BY key HAVING key IS NOT NULL", (merge, store)).fetchall())
    table = snapshots.read_store(db, store)
    if table is not None:
        snapshot_keys = snapshots.customer_keys(table, merge_guests_by_email)
        for key in pc.unique(snapshot_keys.filter(pc.is_valid(snapshot_keys))).to_pylist():
            has_email.setdefault(key, False)
        # As the SQL above: an email of only spaces is no email.
        present = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim(table["email"], characters=" ")), 0), False)
        for key in pc.unique(snapshot_keys.filter(pc.and_(present, pc.is_valid(snapshot_keys)))).to_pylist():
            has_email[key] = True
    return sum(1 for flag in has_email.values() if not flag)
