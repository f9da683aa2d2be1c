"""Marketing consent in the ledger: the newest recorded value per customer wins, for rows and for
columnar snapshots alike, and snapshots written before consent was kept read as "not recorded"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from pipelinekit import NOW, open_db, order
from rfmsync.connectors.base import Contact, OrderColumns
from rfmsync.sync import ledger_snapshots as snapshots
from rfmsync.sync.contacts import audience_contacts
from rfmsync.sync.ledger import upsert_orders


def test_the_newest_recorded_consent_wins_in_rows(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    old = order("o1", "c1", 30, "10.00", email="a@example.com").model_copy(
        update={"email_consent": True, "sms_consent": True, "phone": "0151 11111111"})
    newer = order("o2", "c1", 5, "10.00", email="b@example.com").model_copy(update={"email_consent": False})
    unknown = order("o3", "c1", 1, "10.00")  # records nothing: leaves the earlier values standing
    upsert_orders(db, "shop", "mem", [old, newer, unknown], None)
    assert audience_contacts(db, "shop", ["c1", "c2"]) == {
        "c1": Contact("b@example.com", "0151 11111111", False, True)}
    db.close()


def test_snapshots_carry_consent_and_older_ones_read_as_unknown(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    created = int((NOW - timedelta(days=3)).timestamp())
    columns = OrderColumns(
        source="file", order_id=np.asarray(["f1", "f2"], dtype=object),
        customer_key=np.asarray(["c1", "c2"], dtype=object),
        email=np.asarray(["a@example.com", None], dtype=object), created_utc=np.asarray([created, created]),
        amount_units=np.asarray([10_000, 20_000]), status_code=np.asarray([0, 0], dtype=np.uint8), currency="EUR",
        updated_utc=created, phone=np.asarray([None, "0151 22222222"], dtype=object),
        email_consent=np.asarray([True, None], dtype=object), sms_consent=np.asarray([True, False], dtype=object))
    upsert_orders(db, "shop", "file", [], None, columns=columns)
    assert audience_contacts(db, "shop", ["c1", "c2"]) == {
        "c1": Contact("a@example.com", None, True, True), "c2": Contact(None, "0151 22222222", None, False)}
    # A part written before the consent columns existed.
    table = snapshots.table_of_columns(columns).drop_columns(["email_consent", "sms_consent"])
    out = pa.BufferOutputStream()
    with pa.ipc.new_stream(out, table.schema) as writer:
        writer.write_table(table)
    with db.transaction() as conn:
        conn.execute("UPDATE order_snapshots SET data = ? WHERE store = 'shop'", (memoryview(out.getvalue()),))
    assert audience_contacts(db, "shop", ["c1"]) == {"c1": Contact("a@example.com", None, None, None)}
    db.close()
