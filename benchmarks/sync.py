"""Sync runs from a CSV export, beside the engine's in-memory scoring of the same orders.

    .venv/bin/python benchmarks/sync.py                      # 1M and 10M orders (10 customers each)
    .venv/bin/python benchmarks/sync.py --sizes 200000       # quick

For each size, in a fresh state, each run as `rfmsync sync` in its own process (wall time and peak
resident memory, VmHWM):
  1. the first sync: every order new to the ledger, every customer new to the sink;
  2. a sync with no new orders: the file is unchanged and must push 0 changes;
  3. a sync after 1% of customers bought again: their orders are appended to the export, so the
     file is read whole and merged again, and the changes it makes are pushed.
The sink is the csv sink, so the times include the changes log and the audience files. The reference
is engine (a) of benchmarks/engine.py on the same orders: aggregate + score + segment of in-memory
arrays, best of 3, in this process. Goals (issue 9): the first sync of 1M orders in at most 10 s and
1 GB; a no-change sync in at most 3x the in-memory scoring time; 10M orders complete.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import datagen  # run as a script: benchmarks/ is on sys.path
import engine_steps
import numpy as np
from engine import best_of, table, timed_process

AS_OF = date(2026, 11, 1)  # the generated orders end the day before
# The runs' clocks (rfmsync.core.clock reads RFMSYNC_NOW): pinned, minutes apart, so every run
# scores as of the same day and recency alone moves nobody.
CLOCKS = ("2026-11-01T03:00:00Z", "2026-11-01T03:05:00Z", "2026-11-01T03:10:00Z")
GOAL_FIRST_SECONDS, GOAL_FIRST_MIB, GOAL_QUIET_RATIO = 10.0, 1024.0, 3.0
CONFIG = f"""
state_dir = "state"
[stores.bench]
currency = "EUR"
timezone = "UTC"
as_of = {AS_OF.isoformat()}
[[stores.bench.sources]]
type = "csv"
path = "orders.csv"
[[stores.bench.sinks]]
type = "csv"
dir = "out"
"""
_SENT = re.compile(r"sink csv: ([\d,]+) changes sent")


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    peak_mib: float
    changes: int


def append_new_orders(path: Path, orders: datagen.Orders, share: float) -> int:
    """One more order, on the last day, for `share` of the customers: lines appended to the export."""
    customers = int(orders.customer.max()) + 1
    rng = np.random.default_rng(7)
    buyers = rng.choice(customers, size=max(1, int(customers * share)), replace=False)
    first_id = 100001 + len(orders.customer)
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.writelines(f"{first_id + i},{c + 1},customer{c + 1}@example.com,2026-10-31T12:00:00Z,45.00,EUR,paid\n"
                          for i, c in enumerate(buyers.tolist()))
    return len(buyers)


def sync(workdir: Path, label: str, clock: str) -> Run:
    rfmsync = Path(sys.executable).parent / "rfmsync"
    log = workdir / f"{label.split()[0]}.log"
    seconds, peak = timed_process(["env", f"RFMSYNC_NOW={clock}", str(rfmsync), "sync", "--config",
                                   str(workdir / "bench.toml")], log)
    sent = _SENT.search(log.read_text())
    if sent is None:
        raise RuntimeError(f"{log}: no 'sink csv: N changes sent' line")
    return Run(label, seconds, peak, int(sent.group(1).replace(",", "")))


def quiet_in_process(workdir: Path, repeat: int = 3) -> float:
    """A no-change sync through the CLI's main() in this process, best of `repeat`: what a daemon's
    scheduled run costs, without the interpreter start and imports of a fresh process."""
    from rfmsync.core import clock as rfmsync_clock
    from rfmsync.sync.cli import main as rfmsync_main

    best = float("inf")
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for minute in range(15, 15 + repeat):
            os.environ[rfmsync_clock.ENV_NOW] = f"2026-11-01T03:{minute}:00Z"
            start = time.perf_counter()
            code = rfmsync_main(["sync", "--config", str(workdir / "bench.toml")])
            best = min(best, time.perf_counter() - start)
            if code != 0:
                raise RuntimeError(f"in-process sync exited with {code}")
    return best


def in_memory_scoring(orders: datagen.Orders) -> tuple[float, object]:
    batch = engine_steps.build_batch(orders)  # the batch lives only here: freed before the syncs run
    seconds, scored = best_of(3, lambda: engine_steps.run_rfmsync(batch, AS_OF))
    return seconds, scored


def one_size(n_orders: int, share: float, root: Path) -> tuple[float, list[Run], bool]:
    workdir = root / f"{n_orders}"
    workdir.mkdir()
    (workdir / "bench.toml").write_text(CONFIG)
    start = time.perf_counter()
    orders = datagen.by_created(datagen.generate(n_orders, max(1, n_orders // 10)))
    datagen.write_csv(orders, workdir / "orders.csv")
    print(f"{n_orders:,} orders generated and written in {time.perf_counter() - start:.1f} s (not timed)", flush=True)
    scoring, scored = in_memory_scoring(orders)
    print(f"  in-memory scoring of {len(scored):,} customers: {scoring:.2f} s", flush=True)
    runs = [sync(workdir, "first sync", CLOCKS[0]), sync(workdir, "no new orders", CLOCKS[1])]
    buyers = append_new_orders(workdir / "orders.csv", orders, share)
    runs.append(sync(workdir, f"{buyers:,} customers ({share:.0%}) bought again", CLOCKS[2]))
    runs.append(Run("no new orders, in a running process", quiet_in_process(workdir), 0.0, 0))
    for run in runs:
        print(f"  {run.label}: {run.seconds:.2f} s, {run.peak_mib:,.0f} MiB, {run.changes:,} changes", flush=True)
    # New orders move their buyers and, through the quantile bands, some neighbours: more than none.
    sane = runs[1].changes == 0 and runs[0].changes == len(scored)  # type: ignore[arg-type] and runs[2].changes > 0
    return scoring, runs, sane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="orders per store, comma-separated")
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[tuple[str, ...]] = [("orders", "run", "time (s)", "x scoring", "peak memory", "changes pushed")]
    goals: list[tuple[str, str, str]] = [("goal", "measured", "met")]
    failed = False
    with tempfile.TemporaryDirectory(prefix="rfmsync-bench-") as tmp:
        for n in sizes:
            scoring, runs, sane = one_size(n, args.changed_share, Path(tmp))
            failed |= not sane
            rows.append((f"{n:,}", "in-memory scoring (engine a)", f"{scoring:.2f}", "1.0", "", ""))
            rows.extend((f"{n:,}", r.label, f"{r.seconds:.2f}", f"{r.seconds / scoring:.1f}",
                         f"{r.peak_mib:,.0f} MiB" if r.peak_mib else "", f"{r.changes:,}") for r in runs)
            first, quiet = runs[0], runs[1]
            if n == 1_000_000:
                ok = first.seconds <= GOAL_FIRST_SECONDS and first.peak_mib <= GOAL_FIRST_MIB
                goals.append(("first sync of 1M <= 10 s, <= 1 GB", f"{first.seconds:.1f} s, {first.peak_mib:,.0f} MiB",
                              "MET" if ok else "NOT MET"))
            for how, run in (("", quiet), (" (in a running process)", runs[3])):
                ratio = run.seconds / scoring
                goals.append((f"no-change sync of {n:,}{how} <= {GOAL_QUIET_RATIO:g}x scoring", f"{ratio:.1f}x",
                              "MET" if ratio <= GOAL_QUIET_RATIO else "NOT MET"))
    print(f"\nrfmsync sync benchmark, CSV source and csv sink, as of {AS_OF}\n\n{table(rows)}\n\n{table(goals)}\n")
    if failed:
        print("FAILED: a run pushed an unexpected number of changes (see the table)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
