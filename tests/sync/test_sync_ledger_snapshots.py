"""Bulk sources' snapshots: the same orders stored as columns read back exactly as rows would, and a
re-read merges (newest version wins, orders gone from the file stay)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipelinekit import NOW, open_db, order
from rfmsync.connectors.base import OrderColumns
from rfmsync.core.batch import to_units
from rfmsync.core.models import STATUS_CODES, Order, OrderStatus
from rfmsync.sync import contacts, ledger_snapshots
from rfmsync.sync.contacts import contacts_for, customers_without_email
from rfmsync.sync.ledger import load_ledger, order_count, upsert_orders
from rfmsync.sync.sink_state import json_strings
from rfmsync.sync.state import Database

T0 = int(NOW.timestamp())


def columns(orders: Sequence[Order], updated_utc: int, source: str = "file") -> OrderColumns:
    return OrderColumns(
        source=source, order_id=np.asarray([o.order_id for o in orders], dtype=object),
        customer_key=np.asarray([o.customer_key for o in orders], dtype=object),
        email=np.asarray([o.email for o in orders], dtype=object),
        created_utc=np.asarray([int(o.created_at.timestamp()) for o in orders], dtype=np.int64),
        amount_units=np.asarray([to_units(o.amount) for o in orders], dtype=np.int64),
        status_code=np.asarray([STATUS_CODES[o.status] for o in orders], dtype=np.uint8),
        currency="EUR", updated_utc=updated_utc)


def guest(order_id: str, days_ago: int, amount: str, email: str | None) -> Order:
    return order(order_id, "x", days_ago, amount, email=email).model_copy(update={"customer_key": None})


# Two writes, an hour apart: ann's email changes, a guest appears under two spellings of one address.
FIRST = [order("o1", "ann", 9, "10.00", email="old@ann.test"), order("o2", "bob", 5, "20.00", email="  "),
         guest("g1", 4, "30.00", " Guest@Mail.test"), guest("g3", 2, "5.00", None),
         order("o4", "cyd", 3, "7.50", status=OrderStatus.CANCELLED, email="cyd@x.test")]
SECOND = [order("o3", "ann", 3, "10.00", email="new@ann.test"), guest("g2", 2, "40.00", "guest@mail.test")]


def _as_rows(db: Database, store: str) -> None:
    for batch, updated in ((FIRST, T0), (SECOND, T0 + 3600)):
        stamped = [o.model_copy(update={"updated_at": NOW.fromtimestamp(updated, NOW.tzinfo)}) for o in batch]
        upsert_orders(db, store, "file", stamped, None)


def _as_columns(db: Database, store: str) -> None:
    upsert_orders(db, store, "file", [], None, columns=columns(FIRST, T0))
    upsert_orders(db, store, "file", [], None, columns=columns(SECOND, T0 + 3600))


def _ledger_view(db: Database, store: str, merge: bool) -> dict[str, object]:
    read = load_ledger(db, store, merge_guests_by_email=merge)
    batch = read.batch
    per_customer: dict[str, list[tuple[int, int, int]]] = {}
    for code, created, units, status in zip(batch.customer_codes.tolist(), batch.created_utc.tolist(),
                                            batch.amount_units.tolist(), batch.status_codes.tolist(), strict=True):
        per_customer.setdefault(batch.customer_ids[code], []).append((created, units, status))
    keys = sorted(per_customer)
    return {"orders": {k: sorted(v) for k, v in per_customer.items()}, "total": read.orders_total,
            "without_customer": read.orders_without_customer,
            "currencies": [read.currency_names[c] for c in read.currency_codes.tolist()].count("EUR"),
            "contacts": contacts_for(db, store, keys, ledger=read),
            "without_email": customers_without_email(db, store, read),
            "count": order_count(db, store)}


@pytest.mark.parametrize("merge", [False, True], ids=["guests-apart", "guests-merged"])
@pytest.mark.parametrize("bulk_above", [10_000, 0], ids=["index-lookups", "one-scan"])
def test_a_snapshot_reads_back_exactly_as_rows(tmp_path: Path, merge: bool, bulk_above: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contacts, "BULK_CONTACTS", bulk_above)
    db = open_db(tmp_path)
    _as_rows(db, "rows")
    _as_columns(db, "cols")
    assert db.conn.execute("SELECT COUNT(*) FROM orders WHERE store = 'cols'").fetchone() == (0,)
    rows, cols = _ledger_view(db, "rows", merge), _ledger_view(db, "cols", merge)
    assert cols == rows
    # And the values themselves, not just agreement: ann's newest email, the guest under one key.
    assert cols["contacts"]["ann"] == ("new@ann.test", None)  # type: ignore[index]
    if merge:
        assert cols["contacts"]["email:guest@mail.test"] == ("guest@mail.test", None)  # type: ignore[index]
        assert cols["without_customer"] == 1 and cols["without_email"] == 1  # g3; bob
    else:
        assert cols["without_customer"] == 3 and cols["without_email"] == 1
    assert cols["count"] == 7 and cols["currencies"] == 7 - int(cols["without_customer"])  # type: ignore[call-overload]


def test_a_reread_merges_newest_wins_and_orders_gone_from_the_file_stay(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    upsert_orders(db, "s", "file", [], None, columns=columns(
        [order("a", "ann", 5, "10.00"), order("b", "bob", 5, "20.00")], T0))
    # The re-read file lost "b", changed "a" and lists "c" twice (its later line counts).
    upsert_orders(db, "s", "file", [], None, columns=columns(
        [order("a", "ann", 5, "11.00"), order("c", "cyd", 1, "1.00"), order("c", "cyd", 1, "3.00")], T0 + 60))
    # A stale copy (updated before the stored one) never wins.
    upsert_orders(db, "s", "file", [], None, columns=columns([order("a", "ann", 5, "99.00")], T0 + 30))
    table = ledger_snapshots.read_store(db, "s")
    assert table is not None
    stored = dict(zip(table["order_id"].to_pylist(), table["amount_units"].to_pylist(), strict=True))
    assert stored == {"a": 110_000, "b": 200_000, "c": 30_000}
    assert order_count(db, "s") == 3


def test_rows_of_an_older_rfmsync_move_into_the_snapshot_and_models_follow(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    older = [order("a", "ann", 5, "10.00"), order("b", "bob", 5, "20.00")]
    upsert_orders(db, "s", "file", [o.model_copy(update={"source": "file"}) for o in older], None)
    assert db.conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (2,)
    upsert_orders(db, "s", "file", [], None, columns=columns([order("c", "cyd", 1, "1.00")], T0 + 60))
    assert db.conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)
    dan = order("d", "dan", 1, "2.00").model_copy(update={"updated_at": NOW, "source": "file"})
    upsert_orders(db, "s", "file", [dan], None)
    assert db.conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)
    assert order_count(db, "s") == 4
    assert sorted(load_ledger(db, "s").batch.customer_ids) == ["ann", "bob", "cyd", "dan"]


def test_a_large_snapshot_is_stored_in_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_snapshots, "PART_ROWS", 2)
    db = open_db(tmp_path)
    orders = [order(f"o{i}", f"c{i % 3}", i + 1, f"{i + 1}.00") for i in range(5)]
    upsert_orders(db, "s", "file", [], None, columns=columns(orders, T0))
    parts = db.conn.execute("SELECT part, orders FROM order_snapshots ORDER BY part").fetchall()
    assert parts == [(0, 2), (1, 2), (2, 1)]
    assert int(load_ledger(db, "s").batch.amount_units.sum()) == to_units(sum(range(1, 6)))


@given(st.lists(st.text(max_size=6), max_size=5))
def test_record_json_is_what_json_dumps_writes(values: list[str]) -> None:
    assert json_strings(values) == json.dumps(values)
