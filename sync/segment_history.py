"""Each customer's segment history, for the `previous_segment` and `segment_changed_at` fields:
the segment before the last change and the day of that change (the store's date, as scored).

Kept per store in `segment_history`, one row per customer, while one of the store's sinks pushes
one of the two fields: written by every run that scores for real (not a dry run) right after it
saved its snapshot. A customer's first segment has no previous one and "changed" on the day it was
first scored. When a sink starts to push them (or the store ran before this table existed), the
history is seeded from the score snapshots the state already holds (the last SNAPSHOTS_KEPT runs),
oldest first, so it starts as those runs saw it rather than "everything changed today"; when no
sink pushes them any more it is dropped, so that a later start seeds it again instead of trusting
rows that stopped moving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from rfmsync.sync import runs
from rfmsync.sync.state import Database


@dataclass(frozen=True)
class History:
    segment: str
    previous: str
    changed_on: str  # ISO date


def load(db: Database, store: str) -> dict[str, History]:
    rows = db.conn.execute("SELECT customer_key, segment, previous_segment, changed_on FROM segment_history "
                           "WHERE store = ?", (store,)).fetchall()
    return {key: History(segment, previous, changed) for key, segment, previous, changed in rows}


def advanced(held: Mapping[str, History], segments: Mapping[str, str], as_of: date) -> dict[str, History]:
    """The customers whose history moves on with `segments` (customer key -> segment, "" for none)."""
    today = as_of.isoformat()
    moved: dict[str, History] = {}
    for key, segment in segments.items():
        before = held.get(key)
        if before is None:
            if segment:
                moved[key] = History(segment, "", today)
        elif before.segment != segment:
            moved[key] = History(segment, before.segment, today)
    return moved


def _write(db: Database, store: str, moved: Mapping[str, History]) -> None:
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO segment_history (store, customer_key, segment, previous_segment, changed_on) VALUES "
            "(?, ?, ?, ?, ?) ON CONFLICT (store, customer_key) DO UPDATE SET segment = excluded.segment, "
            "previous_segment = excluded.previous_segment, changed_on = excluded.changed_on",
            [(store, key, h.segment, h.previous, h.changed_on) for key, h in moved.items()])
        conn.execute("INSERT OR IGNORE INTO segment_history_seeded (store) VALUES (?)", (store,))


def forget(db: Database, store: str) -> None:
    """Drops the store's history (no sink pushes it): one indexed look-up when there is none."""
    if db.conn.execute("SELECT 1 FROM segment_history_seeded WHERE store = ?", (store,)).fetchone() is None:
        return
    with db.transaction() as conn:
        conn.execute("DELETE FROM segment_history WHERE store = ?", (store,))
        conn.execute("DELETE FROM segment_history_seeded WHERE store = ?", (store,))


def _seed(db: Database, store: str, before_run: int | None) -> dict[str, History]:
    """The history the stored snapshots (older than `before_run`, or all) tell, oldest first."""
    snapshots = []
    run_id = before_run
    while True:
        snapshot = runs.load_snapshot(db, store, before_run=run_id)
        if snapshot is None:
            break
        snapshots.append(snapshot)
        run_id = snapshot.run_id
    held: dict[str, History] = {}
    for snapshot in reversed(snapshots):
        held.update(advanced(held, dict(zip(snapshot.customer_keys, snapshot.segments, strict=True)), snapshot.as_of))
    return held


def record(db: Database, store: str, run_id: int | None, as_of: date, segments: Mapping[str, str], *,
           write: bool = True) -> dict[str, History]:
    """The history after this run's segments, written unless `write` is false (a dry run, `status`);
    `run_id` None: not a run, every snapshot is history."""
    seeded = db.conn.execute("SELECT 1 FROM segment_history_seeded WHERE store = ?", (store,)).fetchone()
    held = load(db, store) if seeded else _seed(db, store, run_id)
    moved = advanced(held, segments, as_of)
    if write:
        _write(db, store, moved if seeded else {**held, **moved})
    held.update(moved)
    return held
