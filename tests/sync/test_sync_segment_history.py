"""previous_segment and segment_changed_at: the segment before the last change and its day in the
store's time zone, kept in the state, pushed like any field, seeded from older snapshots."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipelinekit import NOW, MemorySource, RecordingSink, open_db, order, run
from rfmsync.core.models import Order
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync import segment_history
from rfmsync.sync.pipeline import StoreRuntime

FIELDS = ["segment", "previous_segment", "segment_changed_at"]
# quick-audience with fixed comparisons: a customer's segment depends on their own orders only.
SETTINGS = RfmSettings(scheme="quick-audience", method="ranges")


def orders() -> list[Order]:
    return [order("a1", "ann", 400, "20.00"), order("b1", "bob", 10, "900.00"), order("b2", "bob", 5, "900.00"),
            order("b3", "bob", 3, "900.00"), order("c1", "cy", 200, "15.00")]


def store(source: MemorySource, sink: RecordingSink, tz: str = "UTC") -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name=tz, settings=SETTINGS, sources=[source], sinks=[sink])


def test_a_changed_segment_carries_its_previous_one_and_the_day(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(orders(), page_size=50), RecordingSink(fields=list(FIELDS))
    run(db, store(source, sink))
    first = {c.customer_key: dict(c.fields) for c in sink.changes()}
    assert {k: (f["previous_segment"], f["segment_changed_at"]) for k, f in first.items()} == {
        "ann": ("", "2026-11-01"), "bob": ("", "2026-11-01"), "cy": ("", "2026-11-01")}
    sink.pushes.clear()
    # Ann buys a lot, three days later: only she changes, and her history says from what and when.
    later = NOW + timedelta(days=3)
    source.orders += [order(f"a{i}", "ann", 0, "900.00").model_copy(
        update={"created_at": later - timedelta(hours=i + 1), "updated_at": later - timedelta(hours=i + 1)})
        for i in range(2, 5)]
    run(db, store(source, sink), at=later)
    changes = sink.changes()
    assert [c.customer_key for c in changes] == ["ann"]
    assert changes[0].fields["previous_segment"] == first["ann"]["segment"] != changes[0].fields["segment"]
    assert changes[0].fields["segment_changed_at"] == "2026-11-04"
    held = segment_history.load(db, "shop")
    assert (held["bob"].previous, held["bob"].changed_on) == ("", "2026-11-01")
    db.close()


def test_the_day_is_the_store_s_and_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, sink = MemorySource(orders(), page_size=50), RecordingSink(fields=list(FIELDS))
    late = NOW.replace(hour=23, minute=30)  # 2026-11-02 00:30 in Berlin
    run(db, store(source, sink, tz="Europe/Berlin"), at=late, dry_run=True)
    assert segment_history.load(db, "shop") == {}
    run(db, store(source, sink, tz="Europe/Berlin"), at=late)
    assert {h.changed_on for h in segment_history.load(db, "shop").values()} == {"2026-11-02"}
    db.close()


def test_history_starts_from_the_snapshots_when_a_sink_starts_to_push_it_and_stops_with_it(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    source, plain = MemorySource(orders(), page_size=50), RecordingSink(fields=["segment"])
    run(db, store(source, plain))
    later = NOW + timedelta(days=3)
    source.orders += [order(f"a{i}", "ann", 0, "900.00").model_copy(
        update={"created_at": later - timedelta(hours=i + 1), "updated_at": later - timedelta(hours=i + 1)})
        for i in range(2, 5)]
    run(db, store(source, plain), at=later)
    assert segment_history.load(db, "shop") == {}  # nobody pushes it: not kept
    history_sink = RecordingSink(name="flows", fields=list(FIELDS))
    both = StoreRuntime(name="shop", tz_name="UTC", settings=SETTINGS, sources=[source], sinks=[plain, history_sink])
    run(db, both, at=later + timedelta(days=1))
    # Seeded from the two runs' snapshots: Ann moved on the 4th, the others were first seen on the 1st.
    held = segment_history.load(db, "shop")
    assert {k: (h.previous, h.changed_on) for k, h in held.items()} == {
        "ann": ("Potential", "2026-11-04"), "bob": ("", "2026-11-01"), "cy": ("", "2026-11-01")}
    pushed = {c.customer_key: (c.fields["previous_segment"], c.fields["segment_changed_at"])
              for c in history_sink.changes()}
    assert pushed == {k: (h.previous, h.changed_on) for k, h in held.items()}
    # The sink goes: the history is dropped, so a later one seeds it afresh rather than trusting stale rows.
    run(db, store(source, plain), at=later + timedelta(days=2))
    assert segment_history.load(db, "shop") == {}
    db.close()
