"""The order ledger and source cursors: upsert by (source, order id), newest version wins."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from rfmsync.connectors.base import OrderColumns
from rfmsync.core.batch import OrderBatch, to_units
from rfmsync.core.models import STATUS_CODES, Order
from rfmsync.sync import identity
from rfmsync.sync import ledger_snapshots as snapshots
from rfmsync.sync.identity import SINGLE_SOURCE, Identity, Observed
from rfmsync.sync.state import Database

_UPSERT = """
INSERT INTO orders (store, source, order_id, customer_key, email, phone, created_utc, updated_utc,
                    amount_units, currency, status, channel, email_consent, sms_consent, channel_detail, order_lines)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (store, source, order_id) DO UPDATE SET
    customer_key = excluded.customer_key, email = excluded.email, phone = excluded.phone,
    created_utc = excluded.created_utc, updated_utc = excluded.updated_utc,
    amount_units = excluded.amount_units, currency = excluded.currency, status = excluded.status,
    channel = excluded.channel, email_consent = excluded.email_consent, sms_consent = excluded.sms_consent,
    channel_detail = excluded.channel_detail, order_lines = excluded.order_lines
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
            _flag(order.sms_consent), order.channel_detail, snapshots.lines_json(order))


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
        write_orders(conn, store, source, orders)
        if cursor is not None:
            conn.execute(_SET_CURSOR, _cursor_row(store, cursor_key or source, cursor))


def write_orders(conn: sqlite3.Connection, store: str, source: str, orders: Sequence[Order]) -> None:
    """Orders into the source's rows (or its snapshot, once it has one), inside the caller's
    transaction; a stored version with a newer updated_at is kept."""
    if orders and snapshots.has_snapshot(conn, store, source):
        snapshots.write(conn, store, source, snapshots.table_of_orders(orders))
    elif orders:
        conn.executemany(_UPSERT, [_row(store, o) for o in orders])


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
class OrderFilter:
    """The subset of orders a store scores on (rfm.channels, rfm.categories); empty: every order.

    A channel matches an order's class ("pos") or its source's detail (a point of sale's location
    id, a shop platform's channel name), case-insensitively. With categories an order counts with the amount of its
    lines in them; an order with none (or from a source that records no categories) is left out.
    """

    channels: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    @classmethod
    def of(cls, channels: Sequence[str] = (), categories: Sequence[str] = ()) -> OrderFilter:
        return cls(frozenset(c.strip().lower() for c in channels), frozenset(c.strip().casefold() for c in categories))

    def __bool__(self) -> bool:
        return bool(self.channels or self.categories)


@dataclass(frozen=True)
class Ledger:
    """A store's scorable orders as columns, plus counts for summaries."""

    batch: OrderBatch
    currency_names: Sequence[str]
    currency_codes: NDArray[np.int64]  # per order, into currency_names: for conversion or exclusion
    orders_total: int
    orders_without_customer: int
    # How the sources' customers map to the store's (sync/identity.py), for contacts and reports.
    identity: Identity = SINGLE_SOURCE
    merge_guests_by_email: bool = False
    orders_filtered_out: int = 0  # not in the store's rfm.channels / rfm.categories


# The key an order has in its source: the source's customer id, or for guests (when the store allows
# it) "email:" + the normalized email. SQLite's lower() folds ASCII only, as normalize_email's
# str.lower() does for the addresses shops hold; trim() drops the same spaces strip() does.
SOURCE_KEY = ("COALESCE(customer_key, CASE WHEN ? AND email IS NOT NULL AND trim(email) != '' "
              "THEN 'email:' || lower(trim(email)) END)")
# Status text to STATUS_CODES in SQL: decoding a million strings in Python costs half a second.
_STATUS = "CASE status " + " ".join(f"WHEN '{s.value}' THEN {c}" for s, c in STATUS_CODES.items()) + " END"
_NODE_SEP = "\x1f"


def load_ledger(db: Database, store: str, *, merge_guests_by_email: bool = False, source_order: Sequence[str] = (),
                phone_region: str | None = None, order_filter: OrderFilter | None = None,
                write_identity: bool = True) -> Ledger:
    """All of a store's orders, every source together (rows and snapshots), as one customer base.

    Guests (no customer id) are merged by normalized email when the store allows it; orders with
    neither stay in the ledger and are counted, not scored. With several sources, their customers
    are matched into the store's (sync/identity.py). Columns are joined and factorized by Arrow,
    never with a Python loop per order (which cost seconds per million orders).
    """
    wanted = order_filter or OrderFilter()
    snapshot = snapshots.read_store(db, store)  # read once: scoring and matching both need it
    table = _scorable_orders(db, store, merge_guests_by_email, with_filter_columns=bool(wanted), snapshot=snapshot)
    total = order_count(db, store)
    scorable = table.num_rows
    if wanted:
        table = _filtered(table, wanted)
    identity = _resolve(db, store, merge_guests_by_email, source_order, phone_region, write_identity, snapshot)
    keys = table["key"].combine_chunks()
    if identity.by_node is not None:
        nodes = pc.binary_join_element_wise(table["source"].combine_chunks(), keys, _NODE_SEP).dictionary_encode()
        mapped = [identity.key_of(*node.split(_NODE_SEP, 1)) for node in nodes.dictionary.to_pylist()]
        keys = pa.array(mapped, type=pa.string()).take(nodes.indices)
    customer_keys = keys.dictionary_encode()
    currency = table["currency"].combine_chunks().dictionary_encode()
    batch = OrderBatch(
        customer_ids=customer_keys.dictionary.to_pylist(),
        customer_codes=customer_keys.indices.to_numpy().astype(np.int64),
        created_utc=table["created_utc"].to_numpy(),
        amount_units=table["amount_units"].to_numpy(),
        status_codes=table["status"].to_numpy().astype(np.uint8),
    )
    return Ledger(batch, currency.dictionary.to_pylist(), currency.indices.to_numpy().astype(np.int64), total,
                  total - scorable, identity, merge_guests_by_email, scorable - len(batch))


_FILTER_COLUMNS = ("channel", "channel_detail", "order_lines")


def _scorable_orders(db: Database, store: str, merge_guests_by_email: bool, *, with_filter_columns: bool,
                     snapshot: Any | None = None) -> Any:
    """Every order with a key, rows and snapshots, as one table: source, key, created_utc,
    amount_units, currency, status (codes), and the filter columns when asked for."""
    merge = int(merge_guests_by_email)
    extra = "".join(f", {c}" for c in _FILTER_COLUMNS) if with_filter_columns else ""
    rows = db.conn.execute(f"SELECT source, {SOURCE_KEY}, created_utc, amount_units, currency, {_STATUS}{extra} "
                           f"FROM orders WHERE store = ? AND {SOURCE_KEY} IS NOT NULL",
                           (merge, store, merge)).fetchall()
    names = ["source", "key", "created_utc", "amount_units", "currency", "status",
             *(_FILTER_COLUMNS if with_filter_columns else ())]
    types = [pa.string(), pa.string(), pa.int64(), pa.int64(), pa.string(), pa.uint8(), pa.string(), pa.string(),
             pa.string()]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    parts = [pa.table([pa.array(values, type=kind) for values, kind in zip(columns, types, strict=False)], names=names)]
    if snapshot is not None:
        keys = snapshots.customer_keys(snapshot, merge_guests_by_email)
        usable = pc.is_valid(keys)
        snapshot = snapshot.filter(usable)
        parts.append(pa.table([snapshot["source"], keys.filter(usable), snapshot["created_utc"],
                               snapshot["amount_units"], snapshot["currency"],
                               pa.array(snapshots.status_codes(snapshot), type=pa.uint8()),
                               *(snapshot[c] for c in _FILTER_COLUMNS if with_filter_columns)], names=names))
    return pa.concat_tables(parts).combine_chunks()


def _filtered(table: Any, wanted: OrderFilter) -> Any:
    if wanted.channels:
        channels = pa.array(sorted(wanted.channels), type=pa.string())
        match = pc.or_kleene(pc.is_in(pc.utf8_lower(table["channel"]), value_set=channels),
                             pc.is_in(pc.utf8_lower(table["channel_detail"]), value_set=channels))
        table = table.filter(pc.fill_null(match, False))
    if wanted.categories:
        amounts = [None if text is None else _category_units(text, wanted.categories)
                   for text in table["order_lines"].to_pylist()]
        in_categories = pa.array(amounts, type=pa.int64())
        table = table.set_column(table.schema.get_field_index("amount_units"), "amount_units", in_categories)
        table = table.filter(pc.fill_null(pc.not_equal(in_categories, 0), False))
    return table


def _category_units(text: str, wanted: frozenset[str]) -> int:
    """The amount of an order's lines with a category in `wanted` (a line in two of them counts once)."""
    return sum(int(units) for names, units in json.loads(text) if any(n.casefold() in wanted for n in names))


def _resolve(db: Database, store: str, merge_guests_by_email: bool, source_order: Sequence[str],
             phone_region: str | None, write: bool, snapshot: Any | None) -> Identity:
    sources = {row[0] for row in db.conn.execute("SELECT DISTINCT source FROM orders WHERE store = ?", (store,))}
    sources.update(snapshots.sources(db, store))
    mapped = db.conn.execute("SELECT 1 FROM identity_nodes WHERE store = ? LIMIT 1", (store,)).fetchone()
    if len(sources) <= 1 and mapped is None:
        return SINGLE_SOURCE
    return identity.resolve(db, store, _observed(db, store, merge_guests_by_email, snapshot), source_order,
                            phone_region, write=write)


def _observed(db: Database, store: str, merge_guests_by_email: bool, table: Any | None) -> Iterator[Observed]:
    """Each distinct (source, source key, normalized email, phone) the ledger holds."""
    merge = int(merge_guests_by_email)
    yield from db.conn.execute(
        f"SELECT DISTINCT source, {SOURCE_KEY} AS k, NULLIF(lower(trim(email)), ''), NULLIF(trim(phone), '') "
        f"FROM orders WHERE store = ? AND k IS NOT NULL", (merge, store))
    if table is None:
        return
    keys = snapshots.customer_keys(table, merge_guests_by_email)
    email = pc.ascii_lower(pc.utf8_trim(table["email"], characters=" "))
    phone = pc.utf8_trim(table["phone"], characters=" ")
    empty = pa.scalar(None, pa.string())
    seen = pa.table({"source": table["source"], "key": keys,
                     "email": pc.if_else(pc.equal(email, ""), empty, email),
                     "phone": pc.if_else(pc.equal(phone, ""), empty, phone)}).filter(pc.is_valid(keys))
    distinct = seen.group_by(["source", "key", "email", "phone"], use_threads=False).aggregate([])
    yield from zip(*(distinct[c].to_pylist() for c in ("source", "key", "email", "phone")), strict=True)


@dataclass(frozen=True)
class Seen:
    """What a store's orders hold to filter on, for check-config: orders per channel class and per
    (class, detail), orders per category."""

    channels: dict[str, int]
    details: dict[tuple[str, str], int]
    categories: dict[str, int]
    # Per source, orders read and orders with categorized lines.
    orders_by_source: dict[str, int]
    categorized_by_source: dict[str, int]


def seen_channels_and_categories(db: Database, store: str) -> Seen:
    table = _scorable_orders(db, store, True, with_filter_columns=True, snapshot=snapshots.read_store(db, store))
    channels: dict[str, int] = {}
    details: dict[tuple[str, str], int] = {}
    for channel, detail in zip(table["channel"].to_pylist(), table["channel_detail"].to_pylist(), strict=True):
        name = channel or "unknown"
        channels[name] = channels.get(name, 0) + 1
        if detail:
            details[(name, detail)] = details.get((name, detail), 0) + 1
    categories: dict[str, int] = {}
    orders: dict[str, int] = {}
    categorized: dict[str, int] = {}
    for source, text in zip(table["source"].to_pylist(), table["order_lines"].to_pylist(), strict=True):
        orders[source] = orders.get(source, 0) + 1
        if text:
            categorized[source] = categorized.get(source, 0) + 1
            for name in {n for names, _ in json.loads(text) for n in names}:
                categories[name] = categories.get(name, 0) + 1
    return Seen(channels, details, categories, orders, categorized)
