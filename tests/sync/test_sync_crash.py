"""The run loop survives SIGKILL: a child process runs the store and is killed at a chosen point of
the pull or the push; a restart on the same state and sink files must end exactly where a run that
was never killed ends. Nothing is missing from the ledger, every change reaches each sink, no batch
is acknowledged twice and the csv sink's log holds each change once.

The child stops at the point through the Source/Sink protocols and RunOptions.progress (see
tests/lib/synckit.py), never through a hook in rfmsync itself. The oracle is the same store run
without any kill, in a separate directory, at the same clock.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import synckit as kit
from rfmsync.connectors.csv.sink import slug
from synckit import SINKS, SOURCE, STORE, World

# ---------------------------------------------------------------------------------------------
# The oracle: the same runs, never killed


@dataclass(frozen=True)
class SinkResult:
    changes: Counter[tuple[str, str, str, str, tuple[str, ...]]]
    audiences: dict[str, dict[str, tuple[str, ...]]]
    records: dict[str, tuple[str, ...]]


def sink_result(world: World, sink: str) -> SinkResult:
    _, lines = kit.read_changes(world.sink_dir(sink))
    records = {key: record for key, (record, _) in kit.sink_records(world.state_file, sink).items()}
    return SinkResult(Counter(line.change for line in lines), kit.read_audiences(world.sink_dir(sink)), records)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, SinkResult]]:
    world = World(tmp_path_factory.mktemp("never-killed"))
    out: dict[int, dict[str, SinkResult]] = {}
    for epoch in (1, 2):
        summary = kit.run_spec(world.spec(epoch))
        assert summary.outcome == "ok"
        out[epoch] = {sink: sink_result(world, sink) for sink in SINKS}
        # The oracle itself is checked against the data: each customer with a counted order in
        # the window is in exactly one audience, and every line of the first run is an entry.
        for sink in SINKS:
            members = [key for audience in out[epoch][sink].audiences.values() for key in audience]
            assert sorted(members) == sorted(kit.customers_in_window(epoch))
    first = out[1]["a"].changes
    assert {kind for (_, kind, *_rest) in first} == {"entered"} and sum(first.values()) == 237
    second = out[2]["a"].changes - first
    assert Counter(kind for (_, kind, *_rest) in second.elements()) == {
        "moved": 172, "updated": 31, "entered": 22, "left": 4}
    return out


# ---------------------------------------------------------------------------------------------
# What the kill left behind, per crash point


def _selection(epoch: int) -> list[kit.SourceRecord]:
    """What the source serves in `epoch`'s run, in page order."""
    since = None if epoch == 1 else kit.NOW[1] - timedelta(minutes=60)
    held = kit.records(epoch)
    served = [r for r in held if (since is None or kit.updated_of(r) >= since) and kit.updated_of(r) < kit.NOW[epoch]]
    return sorted(served, key=lambda r: (kit.updated_of(r), kit.record_id_of(r)))


def after_pages(pages: int, epoch: int = 1) -> Callable[[World, int], None]:
    """Pages 0..pages-1 committed with their cursor and their rejects, nothing pushed."""
    def check(world: World, pid: int) -> None:
        committed = _selection(epoch)[:pages * kit.PAGE_SIZE]
        # Not vacuous: the last committed page carries a refused record.
        assert any(isinstance(r, kit.BadRecord) for r in committed[-kit.PAGE_SIZE:])
        earlier = {o.order_id for o in kit.orders_of(1)} if epoch == 2 else set()
        orders = {r[0] for r in kit.query(world.state_file, "SELECT order_id FROM orders")}
        assert orders == earlier | {r.order_id for r in committed if not isinstance(r, kit.BadRecord)}
        since_key = "all" if epoch == 1 else str(int((kit.NOW[1] - timedelta(minutes=60)).timestamp()))
        # The resume point moved with the pages; `since` did not (only a finished pull moves it).
        since = None if epoch == 1 else int(kit.NOW[1].timestamp())
        assert kit.query(world.state_file, "SELECT source, since_utc, cursor FROM cursors") == [
            (SOURCE, since, json.dumps({"token": f"{since_key}|{pages * kit.PAGE_SIZE}"}, separators=(",", ":")))]
        rejects = {r[0] for r in kit.query(world.state_file, "SELECT record_key FROM rejects WHERE origin = 'source'")}
        earlier_bad = {f"record {b}" for b in kit.bad_ids(1)} if epoch == 2 else set()
        assert rejects == earlier_bad | {f"record {r.record_id}" for r in committed if isinstance(r, kit.BadRecord)}
        assert kit.runs_of(world.state_file)[-1][2] == "running"
        [(holder,)] = kit.query(world.state_file, "SELECT holder FROM leases")
        assert f":{pid}:" in holder  # the dead process still holds the store's lease
        assert kit.count(world.state_file, "outbox") == 0
        if epoch == 1:
            assert not world.sink_dir("a").exists() and not world.sink_dir("b").exists()
    return check


def in_push(sink: str, run: int, acked: int, in_outbox: list[str], logged: int,
            torn: int | None = None) -> Callable[[World, int], None]:
    """Run `run` had `acked` batches of `sink` acknowledged and `in_outbox` waiting; the sink's log
    held `logged` whole batches of that run, and when `torn` is set, that many whole lines of the
    next one and a torn line."""
    def check(world: World, pid: int) -> None:
        size = SINKS[sink]
        batch_ids = [f"{STORE}:{sink}:{run}:{i}" for i in range(max(acked, logged))]
        acks = [a["batch_id"] for a in kit.read_jsonl(world.ack_log) if a["sink"] == sink and a["run_id"] == run]
        assert acks == batch_ids[:acked]
        if run == 1:
            assert len(kit.sink_records(world.state_file, sink)) == acked * size
        outbox = [r[0] for r in kit.query(world.state_file, "SELECT batch_id FROM outbox ORDER BY run_id, seq")]
        assert outbox == in_outbox
        log = world.sink_dir(sink) / "changes.csv"
        data = log.read_bytes() if log.exists() else b""
        expected = {b: size for b in batch_ids[:logged]}
        if torn is not None:
            assert data and not data.endswith(b"\n")
            data = data[:data.rfind(b"\n") + 1]
            if torn:
                expected[f"{STORE}:{sink}:{run}:{logged}"] = torn
        lines = data.decode().splitlines()[1:]
        assert Counter(line.split(",")[0] for line in lines if f":{run}:" in line.split(",")[0]) == expected
        assert kit.runs_of(world.state_file)[-1][2] == "running"
        [(holder,)] = kit.query(world.state_file, "SELECT holder FROM leases")
        assert f":{pid}:" in holder
    return check


@dataclass(frozen=True)
class Scenario:
    id: str
    epoch: int
    crashes: list[dict[str, Any]]  # one child per entry, each killed at its point
    at_crash: Callable[[World, int], None] | None = None  # checked after the first kill
    replayed: dict[str, int] = field(default_factory=dict)  # sink -> batches the final run replays
    resumed_at: int | None = None  # offset the final run's pull resumes from


SCENARIOS = [
    # Mid-pull: killed while the source is asked for page 4, after pages 0-3 committed.
    Scenario("pull-while-fetching-page", 1, [{"at": "page-asked", "page": 4}], after_pages(4), resumed_at=320),
    # Killed right after page 3's write returned: its rejects must not be lost with the process.
    Scenario("pull-right-after-page-commit", 1, [{"at": "page-written", "page": 3}], after_pages(4),
             resumed_at=320),
    # Mid-pull of a later run: the cursor keeps the earlier `since` until the pull finishes.
    Scenario("pull-in-second-run", 2, [{"at": "page-asked", "page": 1}], after_pages(1, epoch=2), resumed_at=80),
    # Mid-push: sink a wrote batch 2 (the platform accepted), the ack never committed.
    Scenario("push-written-not-acked", 1, [{"at": "pushed", "sink": "a", "push": 2}],
             in_push("a", 1, 2, ["shop:a:1:2"], 3), replayed={"a": 1, "b": 0}),
    # Mid-push: batch 1 is in the outbox, the sink got nothing of it.
    Scenario("push-outboxed-not-sent", 1, [{"at": "before-push", "sink": "a", "push": 1}],
             in_push("a", 1, 1, ["shop:a:1:1"], 1), replayed={"a": 1, "b": 0}),
    # Killed while the sink was writing batch 2's log: 7 lines whole, the 8th cut inside its batch id.
    Scenario("push-torn-log-line", 1, [{"at": "torn", "sink": "a", "push": 2, "lines": 7, "cut": 4}],
             in_push("a", 1, 2, ["shop:a:1:2"], 2, torn=7), replayed={"a": 1, "b": 0}),
    # Killed while the sink was creating its log: only part of the header made it to disk.
    Scenario("push-torn-log-header", 1, [{"at": "torn", "sink": "a", "push": 0, "lines": -1, "cut": 11}],
             in_push("a", 1, 0, ["shop:a:1:0"], 0, torn=0), replayed={"a": 1, "b": 0}),
    # Between batches: batch 2 acknowledged, batch 3 not yet in the outbox.
    Scenario("push-between-batches", 1, [{"at": "between", "sink": "a", "after": 3}],
             in_push("a", 1, 3, [], 3), replayed={"a": 0, "b": 0}),
    # The second sink's first batch written, not acked; then the restart is killed the same way
    # while replaying it; the third process finishes.
    Scenario("push-killed-twice-replaying", 1, [{"at": "pushed", "sink": "b", "push": 0},
                                               {"at": "pushed", "sink": "b", "push": 0}],
             in_push("b", 1, 0, ["shop:b:1:0"], 1), replayed={"a": 0, "b": 1}),
    # Mid-push of the second run: moves, updates and customers leaving, batch 1 written, not acked.
    Scenario("push-second-run-moves-and-leaves", 2, [{"at": "pushed", "sink": "a", "push": 1}],
             in_push("a", 2, 1, ["shop:a:2:1"], 2), replayed={"a": 1, "b": 0}),
]


# ---------------------------------------------------------------------------------------------
# The test


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_killed_run_is_finished_by_a_restart_exactly_once(
        scenario: Scenario, tmp_path: Path, procs: kit.Processes,
        reference: dict[int, dict[str, SinkResult]]) -> None:
    world = World(tmp_path / "world")
    world.root.mkdir()
    epoch = scenario.epoch
    for earlier in range(1, epoch):
        assert kit.run_spec(world.spec(earlier)).outcome == "ok"
    runs_before = len(kit.runs_of(world.state_file)) if epoch > 1 else 0

    for number, crash in enumerate(scenario.crashes):
        marker = tmp_path / f"marker{number}"
        proc = procs.start_spec(world.spec(epoch, crash, marker), name=f"child{number}")
        kit.wait_for_marker(marker, procs, proc)
        procs.kill9(proc)
        if number == 0 and scenario.at_crash is not None:
            scenario.at_crash(world, proc.pid)

    summary = kit.run_spec(world.spec(epoch))  # the restart: a new process, the normal source and sinks
    assert summary.outcome == "ok", summary.counts()
    assert {s.name: s.replayed_batches for s in summary.sinks} == (scenario.replayed or {"a": 0, "b": 0})
    if scenario.resumed_at is not None:
        last_pull = kit.read_jsonl(world.pull_log)[-1]
        assert last_pull["start"] == scenario.resumed_at  # resumed from the committed page, not re-read

    state = world.state_file
    kills = len(scenario.crashes)
    assert [r[2] for r in kit.runs_of(state)][runs_before:] == ["interrupted"] * kills + ["ok"]

    # The ledger: every order of the source exactly once, every refused record kept.
    orders = [r[0] for r in kit.query(state, "SELECT order_id FROM orders WHERE store = ? AND source = ?",
                                      (STORE, SOURCE))]
    assert len(orders) == len(set(orders))
    assert set(orders) == {o.order_id for o in kit.orders_of(epoch)}
    rejects = {r[0] for r in kit.query(state, "SELECT record_key FROM rejects WHERE origin = 'source'")}
    assert rejects == {f"record {b}" for b in kit.bad_ids(epoch)}
    assert kit.query(state, "SELECT source, since_utc FROM cursors") == [(SOURCE, int(kit.NOW[epoch].timestamp()))]
    assert kit.count(state, "outbox") == 0
    assert kit.count(state, "leases") == 0

    acks = kit.read_jsonl(world.ack_log)
    for sink in SINKS:
        expected = reference[epoch][sink]
        got = sink_result(world, sink)
        # Every change reached the sink, and its log holds each one once (a replayed batch
        # replaced its own lines): the same multiset of changes as the run that was never killed.
        assert got.changes == expected.changes, sink
        _, lines = kit.read_changes(world.sink_dir(sink))
        assert len({(line.batch_id, line.customer_key) for line in lines}) == len(lines)
        groups = [batch_id for batch_id, _ in itertools.groupby(line.batch_id for line in lines)]
        assert len(groups) == len(set(groups)), "a batch's lines are not contiguous"
        # The audiences hold exactly each segment's customers, as in the run never killed.
        assert got.audiences == expected.audiences, sink
        # One acknowledged record per segmented customer, acknowledged by the run whose batch
        # carried its (last) change.
        assert got.records == expected.records, sink
        acked = kit.sink_records(state, sink)
        assert set(acked) == kit.customers_in_window(epoch)
        last_line = {line.customer_key: line for line in lines}
        for key, (record, run_id) in acked.items():
            assert last_line[key].run_id == run_id and last_line[key].fields == record, key
            assert got.audiences[f"{slug(record[0])}.csv"][key][2:] == record, key
        # No batch acknowledged twice, and each acknowledged batch is exactly what the log holds.
        sink_acks = [a for a in acks if a["sink"] == sink]
        assert len({a["batch_id"] for a in sink_acks}) == len(sink_acks), [a["batch_id"] for a in sink_acks]
        by_batch: dict[str, list[str]] = {}
        for line in lines:
            by_batch.setdefault(line.batch_id, []).append(line.customer_key)
        assert {a["batch_id"]: a["keys"] for a in sink_acks} == {b: sorted(k) for b, k in by_batch.items()}
        this_epoch = [key for a in sink_acks if a["run_id"] > runs_before for key in a["keys"]]
        assert len(this_epoch) == len(set(this_epoch))  # no customer acknowledged twice in the epoch


@pytest.mark.parametrize("killed", [False, True], ids=["uninterrupted", "killed-mid-push-then-a-normal-run"])
def test_full_resync_takes_movers_and_leavers_out_of_their_old_segment(
        killed: bool, tmp_path: Path, procs: kit.Processes, reference: dict[int, dict[str, SinkResult]]) -> None:
    """`--full-resync` sends everyone again, and still tells each sink who moved or left since its last
    acknowledgement: the sink ends exactly as after a normal run, even when the resync is killed."""
    world = World(tmp_path / "world")
    world.root.mkdir()
    assert kit.run_spec(world.spec(1)).outcome == "ok"
    if killed:
        marker = tmp_path / "marker"
        proc = procs.start_spec(world.spec(2, {"at": "pushed", "sink": "a", "push": 2}, marker, full_resync=True),
                                name="resync")
        kit.wait_for_marker(marker, procs, proc)
        procs.kill9(proc)
        summary = kit.run_spec(world.spec(2))  # then the daily run, no resync
        assert [r[2] for r in kit.runs_of(world.state_file)] == ["ok", "interrupted", "ok"]
    else:
        summary = kit.run_spec(world.spec(2, full_resync=True))
    assert summary.outcome == "ok"
    left = {key for audience in reference[1]["a"].audiences.values() for key in audience} - \
        kit.customers_in_window(2)
    assert len(left) == 4
    for sink in SINKS:
        got = sink_result(world, sink)
        assert got.audiences == reference[2][sink].audiences, sink  # nobody in two segments, leavers gone
        assert got.records == reference[2][sink].records, sink
        _, lines = kit.read_changes(world.sink_dir(sink))
        assert len({(line.batch_id, line.customer_key) for line in lines}) == len(lines)
        if not killed:
            resent = [line for line in lines if line.run_id == 2]
            # Everyone in a segment (the 30 unchanged ones as "updated" to the same record) and the 4 who left.
            assert sorted(line.customer_key for line in resent) == sorted(kit.customers_in_window(2) | left)
            assert Counter(line.kind for line in resent) == {"moved": 172, "updated": 61, "entered": 22, "left": 4}
            assert {line.customer_key for line in resent if line.kind == "left"} == left
    assert kit.count(world.state_file, "outbox") == 0
