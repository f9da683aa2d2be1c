"""A sync nothing can change stops after the pull (sync/quiet.py), and only then."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipelinekit import NOW, TRANSIENT, MemorySource, RecordingSink, open_db, order, run, runtime
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync import quiet
from rfmsync.sync.state import Database

ORDERS = [order("o1", "ann", 2, "100.00"), order("o2", "ann", 30, "80.00"), order("o3", "bob", 100, "40.00"),
          order("o4", "cyd", 400, "10.00")]
LATER = NOW + timedelta(hours=1)  # the same day: recency moves nobody


def snapshots(db: Database) -> int:
    return int(db.conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])


def test_a_second_run_with_nothing_new_is_not_scored_again(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    first = run(db, runtime(source, sink))
    assert (first.unchanged, first.customers_scored, len(sink.pushes)) == (False, 3, 1)
    saved = snapshots(db)
    second = run(db, runtime(source, sink), at=LATER)
    assert (second.unchanged, second.outcome, second.customers_scored) == (True, "ok", 3)
    assert second.scored is None and [(s.name, s.changes) for s in second.sinks] == [("rec", 0)]
    assert len(sink.pushes) == 1 and snapshots(db) == saved
    assert len(source.calls) == 2  # the source was still asked: only an empty pull allows the skip
    assert run(db, runtime(source, sink), at=LATER + timedelta(minutes=5)).unchanged  # and again


def test_a_new_order_a_new_day_or_new_settings_make_a_full_run(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    run(db, runtime(source, sink))
    source.orders.append(order("o5", "bob", 0, "500.00").model_copy(update={"created_at": LATER,
                                                                             "updated_at": LATER}))
    assert not run(db, runtime(source, sink), at=LATER + timedelta(minutes=1)).unchanged
    assert "bob" in [c.customer_key for c in sink.pushes[-1][1]]
    # While the look-back (60 minutes before the last run's start) covers the new order, it is read
    # again, and a re-read order is a pull; once it does not, nothing is pulled.
    assert not run(db, runtime(source, sink), at=LATER + timedelta(minutes=30)).unchanged
    assert not run(db, runtime(source, sink), at=LATER + timedelta(hours=2)).unchanged  # from LATER - 30 min
    assert run(db, runtime(source, sink), at=LATER + timedelta(hours=3)).unchanged  # from LATER + 1 h
    assert not run(db, runtime(source, sink), at=NOW + timedelta(days=1)).unchanged  # as of another day
    other = runtime(source, sink, settings=RfmSettings(scheme="quick-audience"))
    assert not run(db, other, at=NOW + timedelta(days=1, minutes=1)).unchanged


def test_a_failed_sink_a_new_sink_or_an_unfinished_run_make_a_full_run(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, good, flaky = MemorySource(list(ORDERS)), RecordingSink(name="good"), RecordingSink(name="flaky",
                                                                                              fail_with=TRANSIENT)
    run(db, runtime(source, good, flaky))
    flaky.fail_with = None
    retried = run(db, runtime(source, good, flaky), at=LATER)
    assert not retried.unchanged and len(flaky.pushes) == 1  # the failed sink got its changes
    assert run(db, runtime(source, good, flaky), at=LATER + timedelta(minutes=1)).unchanged
    added = RecordingSink(name="added")
    grown = run(db, runtime(source, good, flaky, added), at=LATER + timedelta(minutes=2))
    assert not grown.unchanged and len(added.changes()) == 3
    quiet.take(db, "shop")  # as a run killed after it began pulling leaves it
    assert not run(db, runtime(source, good, flaky, added), at=LATER + timedelta(minutes=3)).unchanged


def test_dry_runs_and_full_resyncs_always_do_the_whole_work(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    run(db, runtime(source, sink))
    assert not run(db, runtime(source, sink), at=LATER, dry_run=True).unchanged
    assert not run(db, runtime(source, sink), at=LATER + timedelta(minutes=1)).unchanged  # the dry run took the key
    resync = run(db, runtime(source, sink), at=LATER + timedelta(minutes=2), full_resync=True)
    assert not resync.unchanged and len(sink.pushes[-1][1]) == 3
    assert run(db, runtime(source, sink), at=LATER + timedelta(minutes=3)).unchanged
