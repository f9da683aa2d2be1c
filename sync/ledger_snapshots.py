"""Bulk sources' orders as columnar snapshots: one compressed Arrow table per (store, source).

A file of a million orders costs SQLite about 4.5 s to store as rows (measured on this project's
2-core machine, B-tree inserts alone, before the indexes; more than reading and scoring the file),
and every run would read them back row by row. A source that hands the ledger columns instead is
kept as one Arrow table: merged with what it held before (newest version of an order wins, orders
no longer in the file stay, as with rows), written as BLOBs of at most PART_ROWS orders (SQLite and
PostgreSQL both cap a value at 1 GB), and read back in a fraction of a second.

A (store, source) lives either in the `orders` rows or here, never in both: the first snapshot
write moves the source's rows in, and model orders for a source that has a snapshot merge into it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from rfmsync.connectors.base import OrderColumns
from rfmsync.connectors.base import lines_json as order_lines_json
from rfmsync.core.batch import to_units
from rfmsync.core.models import STATUS_CODES, Order
from rfmsync.sync.state import Database

PART_ROWS = 1_000_000
# Status is stored as its text (dictionary-encoded, so a few bytes per million orders): the codes
# of core.models are an in-memory order, not a file format.
_STATUS_TYPE = pa.dictionary(pa.int8(), pa.string())
SCHEMA = pa.schema([
    ("order_id", pa.string()), ("customer_key", pa.string()), ("email", pa.string()), ("phone", pa.string()),
    ("created_utc", pa.int64()), ("updated_utc", pa.int64()), ("amount_units", pa.int64()),
    ("currency", pa.string()), ("status", _STATUS_TYPE),
    ("email_consent", pa.bool_()), ("sms_consent", pa.bool_()),
    # Channel class and detail; the lines' categories and amounts as JSON (lines_json).
    ("channel", pa.string()), ("channel_detail", pa.string()), ("order_lines", pa.string()),
])
_STATUS_NAMES = [status.value for status in STATUS_CODES]
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def _optional(values: Any, n: int, kind: Any) -> Any:
    return pa.nulls(n, type=kind) if values is None else pa.array(values, type=kind)


def table_of_columns(columns: OrderColumns) -> Any:
    n = len(columns)
    status = pa.DictionaryArray.from_arrays(pa.array(columns.status_code, type=pa.int8()),
                                            pa.array(_STATUS_NAMES, type=pa.string()))
    return pa.table([
        pa.array(columns.order_id, type=pa.string()), pa.array(columns.customer_key, type=pa.string()),
        pa.array(columns.email, type=pa.string()), _optional(columns.phone, n, pa.string()),
        pa.array(columns.created_utc, type=pa.int64()),
        pa.repeat(pa.scalar(columns.updated_utc, pa.int64()), n) if isinstance(columns.updated_utc, int)
        else pa.array(columns.updated_utc, type=pa.int64()),
        pa.array(columns.amount_units, type=pa.int64()),
        pa.repeat(pa.scalar(columns.currency, pa.string()), n) if isinstance(columns.currency, str)
        else pa.array(columns.currency, type=pa.string()),
        status, _optional(columns.email_consent, n, pa.bool_()), _optional(columns.sms_consent, n, pa.bool_()),
        _optional(columns.channel, n, pa.string()), _optional(columns.channel_detail, n, pa.string()),
        _optional(columns.order_lines, n, pa.string())],
        schema=SCHEMA)


def _table_of_rows(rows: Sequence[tuple[Any, ...]]) -> Any:
    """Rows in SCHEMA's column order (status as text) as a table."""
    names = SCHEMA.names
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [pa.array(values, type=SCHEMA.field(name).type if name != "status" else pa.string())
              for name, values in zip(names, columns, strict=True)]
    at = names.index("status")
    arrays[at] = arrays[at].dictionary_encode().cast(_STATUS_TYPE)
    return pa.table(arrays, schema=SCHEMA)


def table_of_orders(orders: Sequence[Order]) -> Any:
    return _table_of_rows([
        (o.order_id, o.customer_key, o.email, o.phone, int(o.created_at.timestamp()),
         int((o.updated_at or o.created_at).timestamp()), to_units(o.amount), o.currency, o.status.value,
         o.email_consent, o.sms_consent, o.channel, o.channel_detail, lines_json(o))
        for o in orders])


def _last_per_order(table: Any) -> Any:
    """One row per order id, the last one given (a file that lists an order twice means its later line)."""
    if len(pc.unique(table["order_id"])) == table.num_rows:  # unique() is twice as fast as count_distinct
        return table
    positions = pa.array(np.arange(table.num_rows, dtype=np.int64))
    last = (pa.table({"order_id": table["order_id"], "position": positions})
            .group_by("order_id", use_threads=False).aggregate([("position", "max")]))
    return table.take(pa.array(np.sort(last["position_max"].to_numpy())))


def merge(old: Any | None, new: Any) -> Any:
    """`new` over `old` by order id; an order whose stored version is strictly newer keeps it."""
    new = _last_per_order(new)
    if old is None or old.num_rows == 0:
        return new
    in_new = pc.is_in(old["order_id"], value_set=new["order_id"])
    if not pc.any(in_new).as_py():
        return pa.concat_tables([old, new])
    stored = old.filter(in_new).select(["order_id", "updated_utc"])
    offered = new.select(["order_id", "updated_utc"]).rename_columns(["order_id", "offered_utc"])
    paired = stored.join(offered, "order_id", use_threads=False)
    stale = paired.filter(pc.greater(paired["updated_utc"], paired["offered_utc"]))["order_id"]
    keep_old = pc.or_(pc.invert(in_new), pc.is_in(old["order_id"], value_set=stale))
    keep_new = pc.invert(pc.is_in(new["order_id"], value_set=stale))
    return pa.concat_tables([old.filter(keep_old), new.filter(keep_new)])


def _encode(table: Any) -> memoryview:
    out = pa.BufferOutputStream()
    with pa.ipc.new_stream(out, SCHEMA, options=_WRITE_OPTIONS) as writer:
        writer.write_table(table)
    return memoryview(out.getvalue())


def _decode(blob: bytes) -> Any:
    table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
    if table.schema.names == SCHEMA.names:
        return table
    # Written by an older rfmsync (before consent was kept): the columns it lacks are unknown.
    have = set(table.schema.names)
    return pa.table([table[name] if name in have else pa.nulls(table.num_rows, type=SCHEMA.field(name).type)
                     for name in SCHEMA.names], schema=SCHEMA)


def has_snapshot(conn: sqlite3.Connection, store: str, source: str) -> bool:
    return conn.execute("SELECT 1 FROM order_snapshots WHERE store = ? AND source = ? LIMIT 1",
                        (store, source)).fetchone() is not None


def _read_source(conn: sqlite3.Connection, store: str, source: str) -> Any | None:
    blobs = [row[0] for row in conn.execute(
        "SELECT data FROM order_snapshots WHERE store = ? AND source = ? ORDER BY part", (store, source))]
    return pa.concat_tables([_decode(b) for b in blobs]) if blobs else None


def _take_rows(conn: sqlite3.Connection, store: str, source: str) -> Any | None:
    """The source's orders stored as rows (by an rfmsync before snapshots), removed from the rows."""
    rows = conn.execute("SELECT order_id, customer_key, email, phone, created_utc, updated_utc, amount_units, "
                        "currency, status, email_consent, sms_consent, channel, channel_detail, order_lines "
                        "FROM orders WHERE store = ? AND source = ?", (store, source)).fetchall()
    if not rows:
        return None
    conn.execute("DELETE FROM orders WHERE store = ? AND source = ?", (store, source))
    return _table_of_rows([(*row[:9], _bool(row[9]), _bool(row[10]), *row[11:]) for row in rows])


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def write(conn: sqlite3.Connection, store: str, source: str, table: Any) -> None:
    """Merges `table` into the source's snapshot, inside the caller's transaction."""
    old = _read_source(conn, store, source)
    moved = _take_rows(conn, store, source)
    if moved is not None:
        old = moved if old is None else merge(moved, old)
    merged = merge(old, table)
    conn.execute("DELETE FROM order_snapshots WHERE store = ? AND source = ?", (store, source))
    for part, start in enumerate(range(0, max(merged.num_rows, 1), PART_ROWS)):
        piece = merged.slice(start, PART_ROWS)
        conn.execute("INSERT INTO order_snapshots (store, source, part, orders, data) VALUES (?, ?, ?, ?, ?)",
                     (store, source, part, piece.num_rows, _encode(piece)))


def read_store(db: Database, store: str) -> Any | None:
    """Every snapshot of the store as one table with a `source` column (order ids are unique per
    source, so none collide)."""
    tables = []
    for source in sources(db, store):
        table = _read_source(db.conn, store, source)
        if table is not None:
            tables.append(table.append_column("source", pa.repeat(pa.scalar(source, pa.string()), table.num_rows)))
    return pa.concat_tables(tables) if tables else None


def sources(db: Database, store: str) -> list[str]:
    return [row[0] for row in db.conn.execute("SELECT DISTINCT source FROM order_snapshots WHERE store = ?", (store,))]


def lines_json(order: Order) -> str | None:
    """An order's lines as stored (connectors.base.lines_json)."""
    return order_lines_json(order.lines)


def order_count(db: Database, store: str) -> int:
    row = db.conn.execute("SELECT COALESCE(SUM(orders), 0) FROM order_snapshots WHERE store = ?", (store,)).fetchone()
    return int(row[0])


def customer_keys(table: Any, merge_guests_by_email: bool) -> Any:
    """Each order's scoring key, exactly as the ledger's SQL computes it for rows (ledger._KEY):
    the customer id, or for guests "email:" + the email trimmed of spaces and ASCII-lower-cased."""
    if not merge_guests_by_email:
        return table["customer_key"].combine_chunks()
    trimmed = pc.utf8_trim(table["email"], characters=" ")
    guest = pc.if_else(pc.greater(pc.utf8_length(trimmed), 0),
                       pc.binary_join_element_wise(pa.scalar("email:"), pc.ascii_lower(trimmed), ""),
                       pa.scalar(None, pa.string()))
    return pc.coalesce(table["customer_key"], guest).combine_chunks()


def status_codes(table: Any) -> NDArray[np.uint8]:
    """The status column as core.models codes, whatever dictionary order each stored part used."""
    column = table["status"].combine_chunks().cast(pa.string()).dictionary_encode()
    by_name = {status.value: code for status, code in STATUS_CODES.items()}
    lookup = np.asarray([by_name[name] for name in column.dictionary.to_pylist()], dtype=np.uint8)
    codes: NDArray[np.uint8] = lookup[column.indices.to_numpy(zero_copy_only=False)]
    return codes


def newest_values(table: Any, keys: Any, column: str) -> Iterator[tuple[str, Any, int]]:
    """(key, value, updated) from each key's most recently updated order with a non-empty `column`;
    among equally recent ones the later row wins."""
    values = table[column].combine_chunks()
    usable = pc.and_(pc.is_valid(keys), pc.is_valid(values))
    if pa.types.is_string(values.type):
        usable = pc.and_(usable, pc.not_equal(values, ""))
    usable = pc.fill_null(usable, False)
    keys, values = keys.filter(usable), values.filter(usable)
    updated = table["updated_utc"].combine_chunks().filter(usable).to_numpy()
    if len(keys) == 0:
        return
    encoded = keys.dictionary_encode()
    codes = encoded.indices.to_numpy()
    order = np.lexsort((updated, codes))  # stable: equal times stay in row order
    ends = order[np.append(codes[order][1:] != codes[order][:-1], True)]
    names = encoded.dictionary.to_pylist()
    picked = values.take(pa.array(ends)).to_pylist()
    yield from zip((names[c] for c in codes[ends].tolist()), picked, updated[ends].tolist(), strict=True)
