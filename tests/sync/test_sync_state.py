"""The SQLite state: migrations, WAL, leases with expiry, snapshots."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from rfmsync.core.aggregate import CustomerMetrics
from rfmsync.core.rfm import RfmSettings, score
from rfmsync.sync import runs
from rfmsync.sync.state import SCHEMA_VERSION, Database, StateError


def test_new_state_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    db = Database(tmp_path)
    assert db.schema_version == SCHEMA_VERSION == 6
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"orders", "cursors", "runs", "snapshots", "sink_records", "sink_fields", "outbox", "rejects",
            "leases", "order_snapshots", "quiet_inputs"} <= tables
    db.close()
    assert Database(tmp_path).schema_version == SCHEMA_VERSION  # reopening migrates nothing twice


def test_state_from_a_newer_rfmsync_is_refused(tmp_path: Path) -> None:
    Database(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError, match="written by a newer rfmsync"):
        Database(tmp_path)


def test_lease_is_exclusive_until_released_or_expired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(tmp_path)
    clock = [1000.0]
    monkeypatch.setattr(runs, "now_utc", lambda: clock[0])
    assert runs.acquire_lease(db, "shop", "a", 60)
    assert not runs.acquire_lease(db, "shop", "b", 60)
    assert runs.acquire_lease(db, "other", "b", 60)  # leases are per store
    assert runs.acquire_lease(db, "shop", "a", 60)  # the holder may take it again
    clock[0] += 61  # a crashed holder stops blocking once its lease expires
    assert runs.acquire_lease(db, "shop", "b", 60)
    assert not runs.renew_lease(db, "shop", "a", 60)
    runs.release_lease(db, "shop", "b")
    assert runs.lease_of(db, "shop") is None


def test_snapshot_round_trip_and_retention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(tmp_path)
    metrics = CustomerMetrics(["a", "b", "c"], np.arange(3), np.array([1, 50, 400]), np.array([5.0, 2.0, 1.0]),
                              np.array([500.0, 80.0, 10.0]))
    scored = score(metrics, RfmSettings())
    monkeypatch.setattr(runs, "SNAPSHOTS_KEPT", 2)
    for run_id in (1, 2, 3):
        runs.save_snapshot(db, "shop", run_id, date(2026, 11, run_id), scored)
    snap = runs.load_snapshot(db, "shop")
    assert snap is not None and snap.run_id == 3 and snap.as_of == date(2026, 11, 3)
    assert snap.customer_keys == ["a", "b", "c"]
    assert snap.segments == scored.segment_labels()
    assert snap.scores.tolist() == [[4, 4, 4], [2, 2, 2], [1, 1, 1]]
    assert snap.monetary.tolist() == [500.0, 80.0, 10.0]
    previous = runs.load_snapshot(db, "shop", before_run=3)
    assert previous is not None and previous.run_id == 2
    assert runs.load_snapshot(db, "shop", before_run=2) is None  # run 1 was pruned


def test_outbox_batches_read_back_as_written_in_both_payload_forms(tmp_path: Path) -> None:
    from rfmsync.core.diff import Change, ChangeKind
    from rfmsync.sync import sink_state

    db = Database(tmp_path)
    changes = [Change("ann", ChangeKind.MOVED, "Lost", "Champions", {"segment": "Champions", "rfm_cell": "555"},
                      "ann@x.test", None),
               Change("bob", ChangeKind.LEFT, "At Risk", None, {}, None, "+4930123"),
               Change("cyd", ChangeKind.ENTERED, None, 'Ünï "q"', {"rfm_cell": "111", "segment": 'Ünï "q"'})]
    sink_state.put_outbox(db, "s", "k", "s:k:1:0", 1, 0, changes)
    # An rfmsync before the compact form wrote one object per change; such a batch is still resent.
    db.conn.execute("INSERT INTO outbox (store, sink, batch_id, run_id, seq, payload) VALUES (?, ?, ?, ?, ?, ?)",
                    ("s", "k", "s:k:1:1", 1, 1, '[{"customer_key":"dan","kind":"updated","old_segment":"Lost",'
                     '"new_segment":"Lost","fields":{"segment":"Lost"},"email":null,"phone":null}]'))
    pending = sink_state.pending_batches(db, "s", "k")
    assert [(b.batch_id, b.changes) for b in pending] == [
        ("s:k:1:0", changes),
        ("s:k:1:1", [Change("dan", ChangeKind.UPDATED, "Lost", "Lost", {"segment": "Lost"})])]
