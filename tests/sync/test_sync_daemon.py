"""`rfmsync daemon` and stopping runs cleanly.

- build_scheduler: one cron job per store, in the store's time zone, max_instances=1, coalesce,
  a 10-minute misfire grace time, and cron's own meaning of the weekday field.
- The daemon as a process exits 0 within seconds of SIGTERM or SIGINT.
- A scheduled run in the daemon that is asked to stop finishes its batch and records "interrupted";
  a second firing while it runs is skipped.
- SIGTERM (or Ctrl-C) during `rfmsync sync` lets the batch in flight finish and commit; the next
  `rfmsync sync` completes the rest without repeating a line.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import synckit as kit
from apscheduler.triggers.cron import CronTrigger
from rfmsync.connectors.csv.sink import slug
from rfmsync.sync import daemon, registry
from rfmsync.sync.config import load_config, parse_config
from rfmsync.sync.run_cmds import EXIT_INTERRUPTED
from synckit import RFMSYNC, STORE

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
FILES_BATCH = 30


def _stores_config(tmp_path: Path, **schedules: tuple[str, str]) -> Any:
    stores = {name: {"timezone": tz, "schedule": cron} for name, (tz, cron) in schedules.items()}
    return parse_config({"stores": stores}, "test.toml", tmp_path)


def _fire_times(trigger: Any, start: datetime, n: int) -> list[datetime]:
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(n):
        fire = trigger.get_next_fire_time(previous, now)
        times.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return times


# ---------------------------------------------------------------------------------------------
# The scheduler's jobs


def test_scheduler_has_one_cron_job_per_store_in_the_store_time_zone(tmp_path: Path) -> None:
    config = _stores_config(tmp_path, shop=("Europe/Berlin", "0 4 * * *"), pos=("America/New_York", "30 5 * * 1"))
    stop = threading.Event()
    scheduler = daemon.build_scheduler(config, stop)
    scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert sorted(jobs) == ["store:pos", "store:shop"]
        for name, tz in (("shop", BERLIN), ("pos", NEW_YORK)):
            job = jobs[f"store:{name}"]
            assert job.func is daemon.run_one
            assert job.args[0] is config and job.args[1] == name and job.args[2] is stop
            assert isinstance(job.trigger, CronTrigger)
            assert job.trigger.timezone == tz
            assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 600)
            assert job.next_run_time.tzinfo == tz

        shop = jobs["store:shop"]
        cron_fields = {f.name: str(f) for f in shop.trigger.fields if f.name not in ("year", "week", "second")}
        assert cron_fields == {"minute": "0", "hour": "4", "day": "*", "month": "*", "day_of_week": "*"}
        # 04:00 on the wall clock of Berlin, across both DST changes of 2026.
        spring = _fire_times(shop.trigger, datetime(2026, 3, 28, 5, 0, tzinfo=BERLIN), 2)
        assert spring == [datetime(2026, 3, 29, 4, 0, tzinfo=BERLIN), datetime(2026, 3, 30, 4, 0, tzinfo=BERLIN)]
        assert [t.astimezone(UTC).hour for t in spring] == [2, 2]
        autumn = _fire_times(shop.trigger, datetime(2026, 10, 24, 5, 0, tzinfo=BERLIN), 2)
        assert [t.astimezone(UTC) for t in autumn] == [datetime(2026, 10, 25, 3, 0, tzinfo=UTC),
                                                        datetime(2026, 10, 26, 3, 0, tzinfo=UTC)]
        # "30 5 * * 1" is Mondays 05:30 in New York (cron counts weekdays from Sunday = 0).
        pos = _fire_times(jobs["store:pos"].trigger, datetime(2026, 11, 22, 12, 0, tzinfo=NEW_YORK), 3)
        assert pos == [datetime(2026, 11, d, 5, 30, tzinfo=NEW_YORK) for d in (23, 30)] + [
            datetime(2026, 12, 7, 5, 30, tzinfo=NEW_YORK)]
        assert (jobs["store:pos"].next_run_time.weekday(), jobs["store:pos"].next_run_time.hour) == (0, 5)
    finally:
        scheduler.shutdown(wait=False)


MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(("weekday_field", "days"), [
    ("0", {SUN}), ("1", {MON}), ("6", {SAT}), ("1-5", {MON, TUE, WED, THU, FRI}), ("6,0", {SAT, SUN}),
    ("*/2", {SUN, TUE, THU, SAT}), ("sun", {SUN}), ("MON-FRI", {MON, TUE, WED, THU, FRI}),
    ("fri-sun", {FRI, SAT, SUN}), ("*", set(range(7))),
])
def test_weekdays_mean_what_they_mean_in_cron(weekday_field: str, days: set[int], tmp_path: Path) -> None:
    config = _stores_config(tmp_path, shop=("Europe/Berlin", f"0 4 * * {weekday_field}"))
    scheduler = daemon.build_scheduler(config, threading.Event())
    [job] = scheduler.get_jobs()
    times = _fire_times(job.trigger, datetime(2026, 11, 1, 0, 0, tzinfo=BERLIN), 3 * len(days))
    assert {t.weekday() for t in times} == days
    assert {(t.hour, t.minute) for t in times} == {(4, 0)}
    assert times[-1] - times[0] < timedelta(days=21)  # every matching day, none skipped


def test_day_of_month_and_weekday_together_mean_either(tmp_path: Path) -> None:
    # As in cron: the 13th of the month and every Friday (APScheduler alone would need both).
    config = _stores_config(tmp_path, shop=("Europe/Berlin", "0 4 13 * 5"))
    [job] = daemon.build_scheduler(config, threading.Event()).get_jobs()
    times = _fire_times(job.trigger, datetime(2026, 11, 1, 0, 0, tzinfo=BERLIN), 9)
    assert [(t.month, t.day) for t in times] == [(11, 6), (11, 13), (11, 20), (11, 27), (12, 4), (12, 11),
                                                 (12, 13), (12, 18), (12, 25)]


# ---------------------------------------------------------------------------------------------
# The daemon process


def _csv_store_config(tmp_path: Path) -> Path:
    kit.write_orders_csv(tmp_path / "orders.csv")
    return kit.write_config(tmp_path / "rfmsync.toml", f"""
[[stores.shop.sinks]]
type = "csv"
name = "files"
dir = "out"
batch_size = {FILES_BATCH}
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_daemon_process_exits_0_soon_after_a_stop_signal(signum: signal.Signals, tmp_path: Path,
                                                         procs: kit.Processes) -> None:
    config = _csv_store_config(tmp_path)
    proc = procs.start([RFMSYNC, "daemon", "--config", config], name="daemon")
    # It logs the next run once the scheduler is up (the stop handlers are installed before).
    kit.wait_until(lambda: "rfmsync.daemon: store shop: next run" in procs.stderr(proc), "the daemon to start",
                   60, [(procs, proc)])
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signum)
    code = procs.wait(proc, timeout=30)
    assert time.monotonic() - sent < 10
    err = procs.stderr(proc)
    assert code == 0, procs.describe(proc)
    assert "stopping: the running store finishes its current batch" in err
    assert "rfmsync.daemon: stopped" in err
    assert "apscheduler" not in err  # its INFO chatter stays out of the log at the default level
    assert "Traceback" not in err
    state_file = tmp_path / "state" / "state.sqlite3"
    assert not state_file.exists() or kit.runs_of(state_file) == []  # nothing was due, nothing ran


def test_scheduled_run_stops_after_its_batch_and_a_second_firing_is_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config_path = _csv_store_config(tmp_path)
    config = load_config(config_path)
    marker, release = tmp_path / "held", tmp_path / "release"
    real_build_store = registry.build_store

    def build_store(root: Any, name: str) -> Any:
        runtime = real_build_store(root, name)
        return replace(runtime, sinks=[kit.HeldSink(s, 1, marker, release) for s in runtime.sinks])

    monkeypatch.setattr(registry, "build_store", build_store)  # the daemon imports it when a run starts
    caplog.set_level(logging.WARNING, logger="apscheduler")
    stop = threading.Event()
    scheduler = daemon.build_scheduler(config, stop)
    scheduler.start()
    try:
        job = scheduler.get_job("store:shop")
        job.modify(next_run_time=datetime.now(UTC))  # due now
        kit.wait_until(marker.exists, "the scheduled run to push its second batch", 60)
        job.modify(next_run_time=datetime.now(UTC))  # due again while it runs
        kit.wait_until(lambda: any("maximum number of running instances reached" in r.getMessage()
                                   for r in caplog.records), "the second firing to be skipped", 60)
        stop.set()  # what SIGTERM does in run_daemon
        release.touch()
        scheduler.shutdown(wait=True)
    finally:
        release.touch()
        if scheduler.running:
            scheduler.shutdown(wait=True)

    state_file = tmp_path / "state" / "state.sqlite3"
    assert kit.runs_of(state_file) == [(1, "sync", "interrupted", "stopped on request")]
    _, lines = kit.read_changes(tmp_path / "out")
    assert [line.batch_id for line in lines] == [f"{STORE}:files:1:{i}" for i in (0, 1) for _ in range(FILES_BATCH)]
    assert kit.sink_records(state_file, "files") == {line.customer_key: (line.fields, 1) for line in lines}
    assert kit.count(state_file, "outbox") == 0
    assert kit.count(state_file, "leases") == 0


# ---------------------------------------------------------------------------------------------
# Stopping `rfmsync sync`


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_during_sync_commits_the_batch_in_flight_and_the_next_sync_does_the_rest(
        signum: signal.Signals, tmp_path: Path, procs: kit.Processes) -> None:
    config = _csv_store_config(tmp_path)
    state_file = tmp_path / "state" / "state.sqlite3"
    out = tmp_path / "out"
    expected = sorted(kit.customers_counted())
    held = 2  # the signal arrives while batch 2 is being pushed
    marker, release = tmp_path / "held", tmp_path / "release"
    spec = tmp_path / "held.json"
    spec.write_text(json.dumps({"hold": held, "marker": str(marker), "release": str(release)}), encoding="utf-8")
    code = "import sys, synckit; sys.exit(synckit.held_sync_main(sys.argv[1], sys.argv[2:]))"
    proc = procs.start([sys.executable, "-c", code, spec, "sync", "--config", config], name="sync")
    kit.wait_for_marker(marker, procs, proc)
    proc.send_signal(signum)
    kit.wait_until(lambda: "stopping after the current batch" in procs.stderr(proc), "the stop request", 60,
                   [(procs, proc)])
    release.touch()  # the batch in flight completes only now, after the signal was handled
    assert procs.wait(proc, timeout=60) == EXIT_INTERRUPTED, procs.describe(proc)
    assert f"store {STORE}: run 1 interrupted" in procs.stdout(proc)
    assert "Traceback" not in procs.stderr(proc)

    assert kit.runs_of(state_file) == [(1, "sync", "interrupted", "stopped on request")]
    _, lines = kit.read_changes(out)
    # Batches 0..2 logged whole, nothing after; each of them acknowledged, nothing else.
    assert [line.batch_id for line in lines] == [f"{STORE}:files:1:{i}" for i in range(held + 1)
                                                 for _ in range(FILES_BATCH)]
    assert [line.customer_key for line in lines] == expected[:(held + 1) * FILES_BATCH]
    assert kit.sink_records(state_file, "files") == {line.customer_key: (line.fields, 1) for line in lines}
    assert kit.count(state_file, "outbox") == 0
    assert kit.count(state_file, "leases") == 0
    members = {key for audience in kit.read_audiences(out).values() for key in audience}
    assert members == {line.customer_key for line in lines}

    again = procs.start([RFMSYNC, "sync", "--config", config], name="again")
    assert procs.wait(again, timeout=60) == 0, procs.describe(again)
    assert f"store {STORE}: run 2 ok; 0 orders pulled" in procs.stdout(again)
    assert kit.runs_of(state_file) == [(1, "sync", "interrupted", "stopped on request"), (2, "sync", "ok", None)]
    _, lines = kit.read_changes(out)
    assert [line.customer_key for line in lines] == expected  # each customer once, none repeated
    assert {line.run_id for line in lines[(held + 1) * FILES_BATCH:]} == {2}
    assert {line.kind for line in lines} == {"entered"}
    records = kit.sink_records(state_file, "files")
    assert sorted(records) == expected
    audiences = kit.read_audiences(out)
    assert sorted(key for audience in audiences.values() for key in audience) == expected
    for line in lines:
        assert records[line.customer_key][0] == line.fields
        assert audiences[f"{slug(line.new_segment)}.csv"][line.customer_key][2:] == line.fields
    assert kit.count(state_file, "outbox") == 0
