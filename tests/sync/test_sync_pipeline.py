"""The run loop with an in-memory source and a recording sink: only changes, acks, failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pipelinekit import NOW, TRANSIENT, MemorySource, RecordingSink, open_db, order, run, runtime
from rfmsync.connectors.base import OrderPage, PageToken
from rfmsync.core.custom import scheme_from_toml
from rfmsync.core.diff import ChangeKind
from rfmsync.core.errors import AuthError
from rfmsync.core.fields import PUSHABLE_FIELDS, current_records
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync import contacts, sink_state
from rfmsync.sync.ledger import Cursor, get_cursor, order_count, set_cursor, upsert_orders
from rfmsync.sync.runs import recent_runs

ORDERS = [
    order("o1", "ann", 2, "100.00"), order("o2", "ann", 30, "80.00"), order("o3", "ann", 60, "50.00"),
    order("o4", "bob", 100, "40.00"), order("o5", "bob", 200, "20.00"),
    order("o6", "cyd", 400, "10.00"),
]
# Fixed bands and fixed comparison values: each customer's segment depends on their own orders
# only, so "a new order moves exactly that customer" is testable. Quick-audience 3-level bands:
# R 0-30 -> 3, 31-90 -> 2, 91+ -> 1; F 1 -> 1, 2-4 -> 2, 5+ -> 3; M <100 -> 1, <1000 -> 2, else 3.
INDEPENDENT = RfmSettings(scheme="quick-audience", method="ranges", comparison={"r": 2, "f": 2, "m": 2})


def test_first_run_pushes_everyone_and_second_run_pushes_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    first = run(db, runtime(source, sink))
    assert first.outcome == "ok" and first.orders_pulled == 6
    # Quantiles, n=3, L=5: ranks 1, 2, 3 score 1, 2, 4. R (worst first): cyd 400 d, bob 100, ann 2.
    # ann 444 (R4, FM (4+4+1)//2=4: Loyal Customers); bob 222 (R2, FM2: Hibernating); cyd 111 (Lost).
    assert {c.customer_key: (c.kind, c.fields["segment"], c.fields["rfm_cell"]) for c in sink.changes()} == {
        "ann": (ChangeKind.ENTERED, "Loyal Customers", "444"),
        "bob": (ChangeKind.ENTERED, "Hibernating", "222"),
        "cyd": (ChangeKind.ENTERED, "Lost", "111"),
    }
    assert [batch_id for batch_id, _ in sink.pushes] == [f"shop:rec:{first.run_id}:0"]
    second = run(db, runtime(source, sink), at=NOW + timedelta(hours=1))
    assert second.outcome == "ok" and second.sinks[0].changes == 0
    assert len(sink.pushes) == 1  # no request at all
    # The second pull re-reads from an hour (the look-back) before the first run's start.
    assert source.calls[1] == (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert order_count(db, "shop") == 6


def test_a_new_order_moves_exactly_that_customer(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    run(db, runtime(source, sink, settings=INDEPENDENT))
    # ann R3 F2 M2 High Value; bob R1 F2 M1 General Keep; cyd R1 F1 M1 Potential.
    assert sink.state() == {"ann": "High Value", "bob": "General Keep", "cyd": "Potential"}
    later = NOW + timedelta(minutes=30)
    source.orders.append(order("o7", "cyd", 0, "500.00").model_copy(
        update={"created_at": NOW + timedelta(minutes=10), "updated_at": NOW + timedelta(minutes=10)}))
    summary = run(db, runtime(source, sink, settings=INDEPENDENT), at=later)
    assert summary.orders_pulled == 1
    # cyd: 0 days -> R3, 2 orders -> F2, 510.00 -> M2: all high, High Value, cell 322.
    (change,) = sink.pushes[-1][1]
    assert (change.customer_key, change.kind, change.old_segment, change.new_segment, change.fields["rfm_cell"]) \
        == ("cyd", ChangeKind.MOVED, "Potential", "High Value", "322")


def test_a_customer_who_leaves_all_segments_is_removed(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    recent_only = scheme_from_toml({"rules": [{"name": "Recent", "r": 3}]})
    settings = RfmSettings(scheme=recent_only, levels=3, method="ranges")
    source, sink = MemorySource([order("o1", "ann", 2, "10.00"), order("o2", "bob", 5, "10.00")]), RecordingSink()
    run(db, runtime(source, sink, settings=settings))
    assert sink.state() == {"ann": "Recent", "bob": "Recent"}
    # 27 days later ann's last order is 29 days old (still R3), bob's 32 (R2: no rule reaches him).
    run(db, runtime(source, sink, settings=settings), at=NOW + timedelta(days=27))
    (change,) = sink.pushes[-1][1]
    assert (change.customer_key, change.kind, change.old_segment, change.new_segment, dict(change.fields)) == \
        ("bob", ChangeKind.LEFT, "Recent", None, {})
    assert sink.state() == {"ann": "Recent"}
    assert set(sink_state.load_acknowledged(db, "shop", "rec", ["segment", "rfm_cell"])) == {"ann"}


def test_a_failing_sink_gets_the_same_changes_next_run_and_does_not_hold_back_others(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source = MemorySource(list(ORDERS))
    good, flaky = RecordingSink(name="good"), RecordingSink(name="flaky", fail_with=TRANSIENT)
    first = run(db, runtime(source, good, flaky))
    assert first.outcome == "partial"
    assert [(s.name, s.accepted, s.error) for s in first.sinks] == [
        ("good", 3, None), ("flaky", 0, "POST https://example.invalid/: 503 Service Unavailable")]
    assert recent_runs(db, "shop")[0].outcome == "partial"
    flaky.fail_with = None
    second = run(db, runtime(source, good, flaky), at=NOW + timedelta(hours=1))
    assert second.outcome == "ok"
    assert [(c.customer_key, c.new_segment) for c in flaky.changes()] == \
        [(c.customer_key, c.new_segment) for c in good.changes()]
    assert len(good.pushes) == 1  # the good sink had nothing new the second time


def test_every_source_and_sink_is_closed_once_per_run_however_it_ends(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    db = open_db(tmp_path)
    source, good, flaky = MemorySource(list(ORDERS)), RecordingSink(name="good"), RecordingSink(name="flaky",
                                                                                                fail_with=TRANSIENT)
    run(db, runtime(source, good, flaky))
    assert (source.closed, good.closed, flaky.closed) == (1, 1, 1)

    class BrokenSource(MemorySource):
        def pull(self, since: datetime | None, until: datetime, cursor: PageToken | None) -> Iterator[OrderPage]:
            raise RuntimeError("a bug in a connector")

    class StubbornSink(RecordingSink):
        def close(self) -> None:
            self.closed += 1
            raise OSError("socket already gone")

    broken, stubborn = BrokenSource(), StubbornSink(name="stubborn")
    with pytest.raises(RuntimeError):
        run(db, runtime(broken, stubborn), at=NOW + timedelta(hours=1))
    assert (broken.closed, stubborn.closed) == (1, 1)
    assert "stubborn: closing failed (OSError)" in caplog.text
    assert recent_runs(db, "shop")[0].outcome == "failed"  # the close error did not replace the run's own


def test_auth_error_stops_only_that_sink(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    bad = RecordingSink(name="bad", fail_with=AuthError("mailchimp: the API key was refused (401)"))
    good = RecordingSink(name="good")
    summary = run(db, runtime(MemorySource(list(ORDERS)), bad, good))
    assert [(s.name, s.error is None) for s in summary.sinks] == [("bad", False), ("good", True)]
    assert "API key was refused" in (summary.sinks[0].error or "")
    assert len(good.changes()) == 3


def test_rejected_records_are_retried_a_few_times_then_held_until_they_change(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink(reject={"bob": "invalid email address"})
    offered = []
    for hour in range(5):
        summary = run(db, runtime(source, sink), at=NOW + timedelta(hours=hour))
        offered.append([c.customer_key for c in sink.pushes[-1][1]] if summary.sinks[0].changes else [])
    # Refused 3 times (MAX_REJECTED_ATTEMPTS), then held back while bob's change stays the same.
    assert offered == [["ann", "bob", "cyd"], ["bob"], ["bob"], [], []]
    assert summary.sinks[0].given_up == 1
    rows = db.conn.execute("SELECT record_key, reason, attempts FROM rejects WHERE origin = 'sink'").fetchall()
    assert rows == [("bob", "invalid email address", 3)]
    sink.reject = {}
    source.orders.append(order("o8", "bob", 0, "5.00").model_copy(
        update={"created_at": NOW + timedelta(hours=5), "updated_at": NOW + timedelta(hours=5)}))
    run(db, runtime(source, sink), at=NOW + timedelta(hours=6))
    assert "bob" in [c.customer_key for c in sink.pushes[-1][1]]
    assert db.conn.execute("SELECT COUNT(*) FROM rejects WHERE origin = 'sink'").fetchone()[0] == 0


def test_dry_run_sends_nothing_and_counts_transitions(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    summary = run(db, runtime(source, sink), dry_run=True)
    assert sink.pushes == []
    assert dict(summary.sinks[0].transitions) == {("-", "Loyal Customers"): 1, ("-", "Hibernating"): 1,
                                                  ("-", "Lost"): 1}
    assert sink_state.load_acknowledged(db, "shop", "rec", ["segment", "rfm_cell"]) == {}
    assert db.conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 0
    assert recent_runs(db, "shop")[0].kind == "dry-run"


def test_full_resync_pushes_everyone_again(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink()
    run(db, runtime(source, sink))
    run(db, runtime(source, sink), at=NOW + timedelta(hours=1), full_resync=True)
    assert [sorted(c.customer_key for c in batch) for _, batch in sink.pushes] == [["ann", "bob", "cyd"]] * 2


def test_unfinished_batch_is_replayed_first_with_its_id(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(list(ORDERS)), RecordingSink(batch_size=2)
    run(db, runtime(source, sink))
    # As if a process died after writing a batch to the outbox and before the ack.
    stale = sink.pushes[0][1][:1]
    sink_state.put_outbox(db, "shop", "rec", "shop:rec:99:0", 99, 0, stale)
    run(db, runtime(source, sink), at=NOW + timedelta(hours=1))
    assert sink.pushes[-1][0] == "shop:rec:99:0"
    assert [c.customer_key for c in sink.pushes[-1][1]] == [stale[0].customer_key]
    assert sink_state.pending_batches(db, "shop", "rec") == []


def test_batches_follow_the_sink_size_and_ids_are_sequential(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    sink = RecordingSink(batch_size=2)
    summary = run(db, runtime(MemorySource(list(ORDERS)), sink))
    assert [(batch_id, [c.customer_key for c in batch]) for batch_id, batch in sink.pushes] == [
        (f"shop:rec:{summary.run_id}:0", ["ann", "bob"]), (f"shop:rec:{summary.run_id}:1", ["cyd"])]


def test_newest_version_of_an_order_wins_and_refunds_reach_the_scores(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource([order("o1", "ann", 5, "500.00", updated_days_ago=5)]), RecordingSink()
    run(db, runtime(source, sink, settings=INDEPENDENT))
    assert sink.state() == {"ann": "Key Develop"}  # R3 high, F1 low, M2 high
    refunded = order("o1", "ann", 5, "0.00", updated_days_ago=0).model_copy(
        update={"updated_at": NOW + timedelta(minutes=1)})
    source.orders = [refunded]
    summary = run(db, runtime(source, sink, settings=INDEPENDENT), at=NOW + timedelta(minutes=5))
    assert summary.customers_scored == 0
    assert sink.state() == {}
    # A late, out-of-date copy of the order (updated before the refund) must not win.
    upsert_orders(db, "shop", "mem", [order("o1", "ann", 5, "900.00", updated_days_ago=9)], None)
    assert db.conn.execute("SELECT amount_units FROM orders WHERE order_id = 'o1'").fetchone() == (0,)
    upsert_orders(db, "shop", "mem", [refunded.model_copy(update={"amount": 250, "updated_at": NOW + timedelta(
        minutes=9)})], None)
    assert db.conn.execute("SELECT amount_units FROM orders WHERE order_id = 'o1'").fetchone() == (2_500_000,)


@pytest.mark.parametrize("bulk_above", [10_000, 0], ids=["index-lookups", "one-scan"])
def test_changes_carry_the_newest_email_and_guests_merge_by_email(tmp_path: Path, bulk_above: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contacts, "BULK_CONTACTS", bulk_above)
    db = open_db(tmp_path)
    orders = [order("o1", "ann", 9, "10.00", email="old@ann.test"),
              order("o2", "ann", 3, "10.00", email="new@ann.test"), order("o3", "bob", 5, "10.00"),
              order("g1", "x", 4, "10.00", email=" Guest@Mail.test").model_copy(update={"customer_key": None}),
              order("g2", "x", 2, "10.00", email="guest@mail.test").model_copy(update={"customer_key": None}),
              order("g3", "x", 2, "10.00").model_copy(update={"customer_key": None})]
    sink = RecordingSink()
    store = runtime(MemorySource(orders), sink)
    summary = run(db, store)
    assert {c.customer_key: c.email for c in sink.changes()} == {"ann": "new@ann.test", "bob": None}
    assert summary.ledger is not None and summary.ledger.orders_without_customer == 3
    merged = runtime(MemorySource([]), RecordingSink(name="rec2"))
    merged = type(merged)(**{**merged.__dict__, "merge_guests_by_email": True})
    summary = run(db, merged, at=NOW + timedelta(hours=1))
    # Both guest orders become one customer; the order with neither id nor email is still not scored.
    assert summary.customers_scored == 3 and summary.ledger is not None
    assert summary.ledger.orders_without_customer == 1
    pushed = {c.customer_key: c for c in merged.sinks[0].changes()}  # type: ignore[attr-defined]
    guest = pushed["email:guest@mail.test"]
    # F: bob 1 order (rank 1 -> 1); ann and the guest 2 orders each, tied at rank 2 -> 1 + 5 * 1 // 3 = 2.
    assert guest.email == "guest@mail.test"
    assert (guest.fields["rfm_cell"][1], pushed["ann"].fields["rfm_cell"][1], pushed["bob"].fields["rfm_cell"][1]) \
        == ("2", "2", "1")


def test_every_pushable_field_can_be_built(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    summary = run(db, runtime(MemorySource(list(ORDERS)), RecordingSink(fields=list(PUSHABLE_FIELDS))))
    assert summary.scored is not None
    records = current_records(summary.scored, PUSHABLE_FIELDS, summary.history)
    # ann: 2 days, 3 orders, 230.00, cell 444 (see the first test), R4 F4 -> micro-segment R4F4; first
    # scored on this run's day (NOW is 2026-11-01 04:00 UTC), with no segment before.
    assert dict(zip(PUSHABLE_FIELDS, records["ann"], strict=True)) == {
        "segment": "Loyal Customers", "rfm_cell": "444", "rfm_score": "4.00", "r_score": "4", "f_score": "4",
        "m_score": "4", "recency_days": "2", "frequency": "3", "monetary": "230.00", "micro_segment": "R4F4",
        "previous_segment": "", "segment_changed_at": "2026-11-01"}


class PagedSource:
    """Pages numbered from the resume position it is given, like an API cursor."""

    name = "paged"
    cursor_model = PageToken

    def __init__(self, pages: int, stop_after: int | None, stop: threading.Event) -> None:
        self.pages, self.stop_after, self.stop, self.started_at = pages, stop_after, stop, []

    def close(self) -> None:
        pass

    def pull(self, since: datetime | None, until: datetime, cursor: PageToken | None) -> Iterator[OrderPage]:
        first = int(cursor.token) + 1 if cursor else 0
        self.started_at.append(first)
        for page in range(first, self.pages):
            if self.stop_after is not None and page == self.stop_after:
                self.stop.set()  # as Ctrl-C would, arriving while this page is being stored
            yield OrderPage([order(f"p{page}", f"c{page}", page + 1, "10.00")], cursor=PageToken(token=str(page)))


def test_interrupted_backfill_resumes_where_it_stopped(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    stop = threading.Event()
    source = PagedSource(pages=5, stop_after=1, stop=stop)
    store = runtime(source, RecordingSink())  # type: ignore[arg-type]
    first = run(db, store, kind="backfill", stop=stop)
    assert first.outcome == "interrupted" and order_count(db, "shop") == 2
    assert get_cursor(db, "shop", "paged#backfill").position == '{"token":"1"}'
    source.stop_after = None
    second = run(db, store, at=NOW + timedelta(minutes=5), kind="backfill", stop=threading.Event())
    assert second.outcome == "ok"
    assert source.started_at == [0, 2]  # the second backfill asked for page 2 onwards, not from the start
    assert order_count(db, "shop") == 5
    assert get_cursor(db, "shop", "paged#backfill") == Cursor(None, None)  # done: resume point cleared
    assert get_cursor(db, "shop", "paged").since == NOW + timedelta(minutes=5)


def test_a_saved_position_of_an_older_form_is_dropped_not_fatal(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "rfmsync.pipeline")
    db = open_db(tmp_path)
    set_cursor(db, "shop", "paged#backfill", Cursor(None, "7"))  # a plain string, as before typed cursors
    source = PagedSource(pages=3, stop_after=None, stop=threading.Event())
    summary = run(db, runtime(source, RecordingSink()), kind="backfill")  # type: ignore[arg-type]
    assert summary.outcome == "ok" and source.started_at == [0] and order_count(db, "shop") == 3
    assert "source paged: the saved position is of an older form" in caplog.text
