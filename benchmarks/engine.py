"""Engine benchmark: rfmsync against the same RFM rules written plainly in pandas.

    .venv/bin/python benchmarks/engine.py                        # 10M orders, 1M customers, 1M-row CSV
    .venv/bin/python benchmarks/engine.py --orders 200000 --customers 20000 --csv-rows 50000   # quick

(a) rfmsync aggregate + score + segment on in-memory arrays, (b) the pandas reference on a DataFrame
of the same orders, (c) `rfmsync score` end to end on a CSV beside the pandas script on the same file.
Every result is checked: if rfmsync and pandas disagree on any customer the run exits with status 1.
Times are the best of --repeat runs; data generation and input building are never timed.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import datagen
import engine_steps

HERE = Path(__file__).resolve().parent
DEFAULT_AS_OF = str(datagen.END.astype("datetime64[D]"))  # generated orders end the day before
GOAL_SPEEDUP = 2.0  # (a) at least 2x faster than (b)
GOAL_MEMORY_MIB = 2048.0  # (a) peak under 2 GB
T = TypeVar("T")


class Mismatch(Exception):
    """rfmsync and pandas disagree: the benchmark's numbers mean nothing."""


@dataclass
class Results:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # step, time, ratio, memory
    goals: list[tuple[str, str, bool]] = field(default_factory=list)  # goal, measured, met


def best_of(repeat: int, func: Callable[[], T]) -> tuple[float, T]:
    """Fastest of `repeat` runs (the least disturbed by the machine) and the last result."""
    best = float("inf")
    result: T | None = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def in_memory(orders: datagen.Orders, as_of: date, repeat: int, results: Results) -> None:
    """(a) and (b), timed in this process, then checked against each other."""
    batch = engine_steps.build_batch(orders)
    frame = engine_steps.build_frame(orders)
    # Alternate the two so drift in the machine's speed (heat, other load) hits both alike.
    times: dict[str, float] = {"rfmsync": float("inf"), "pandas": float("inf")}
    for _ in range(repeat):
        t_a, scored = best_of(1, lambda: engine_steps.run_rfmsync(batch, as_of))
        t_b, reference = best_of(1, lambda: engine_steps.run_pandas(frame, as_of))
        times["rfmsync"], times["pandas"] = min(times["rfmsync"], t_a), min(times["pandas"], t_b)
    problems = engine_steps.compare_in_memory(scored, reference)
    if problems:
        raise Mismatch("(a) vs (b): " + "; ".join(problems))
    print(f"(a)/(b) agree on all {len(scored):,} customers: metrics, r/f/m scores and segments", flush=True)
    ratio = times["pandas"] / times["rfmsync"]
    results.rows.append(("(a) rfmsync aggregate+score+segment", f"{times['rfmsync']:.3f}", "", ""))
    results.rows.append(("(b) pandas, same rules", f"{times['pandas']:.3f}", f"{ratio:.2f}", ""))
    results.goals.append((f"(a) >= {GOAL_SPEEDUP:g}x faster than (b)", f"{ratio:.2f}x", ratio >= GOAL_SPEEDUP))


def memory(orders: datagen.Orders, as_of: date, workdir: Path, results: Results) -> None:
    """Peak memory of (a) and (b), each in a fresh process (engine_steps explains why)."""
    data = workdir / "arrays"
    data.mkdir(exist_ok=True)
    engine_steps.save_arrays(orders, data)
    measured = {}
    for step in ("rfmsync", "pandas"):
        out = subprocess.run([sys.executable, str(HERE / "engine_steps.py"), "--memory", step, str(data),
                              "--as-of", as_of.isoformat()], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"memory probe for {step} failed:\n{out.stderr}")
        measured[step] = json.loads(out.stdout)
        print(f"memory {step}: {measured[step]}", flush=True)
    for label, step in (("(a) rfmsync", "rfmsync"), ("(b) pandas", "pandas")):
        m = measured[step]
        results.rows.append((f"{label} peak memory (step / whole process)", "", "",
                             f"{m['step_mib']:,.0f} / {m['peak_mib']:,.0f} MiB"))
    a = measured["rfmsync"]
    results.goals.append((f"(a) peak memory < {GOAL_MEMORY_MIB / 1024:g} GB",
                          f"{a['step_mib']:,.0f} MiB above inputs (tracemalloc {a['tracemalloc_mib']:,.0f} MiB)",
                          a["step_mib"] < GOAL_MEMORY_MIB))


def timed_process(command: Sequence[str], log: Path) -> tuple[float, float]:
    """Wall time in seconds and peak RSS in MiB of one child process; raises if it fails.

    The peak is the child's VmHWM, sampled every 10 ms by a thread (the main thread only waits, so
    the timing is unaffected). ru_maxrss from wait4 would be wrong: Linux carries this process's
    high-water mark (the 10M generated orders) into a child's ru_maxrss.
    """
    peak_kib = 0
    done = threading.Event()

    def sample(pid: int) -> None:
        nonlocal peak_kib
        while not done.wait(0.01):
            peak_kib = max(peak_kib, engine_steps.status_kib("VmHWM", pid) or 0)

    with open(log, "w") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        sampler = threading.Thread(target=sample, args=(proc.pid,), daemon=True)
        sampler.start()
        returncode = proc.wait()
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
    if returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {returncode}:\n{log.read_text()[-3000:]}")
    return elapsed, peak_kib / 1024


def csv_end_to_end(orders: datagen.Orders, as_of: date, repeat: int, workdir: Path, results: Results) -> None:
    """(c) `rfmsync score` and the pandas script, each as a subprocess on the same CSV file."""
    path = workdir / "orders.csv"
    start = time.perf_counter()
    datagen.write_csv(orders, path)
    print(f"wrote {len(orders.customer):,} orders to {path} in {time.perf_counter() - start:.1f} s", flush=True)
    rfmsync_out, pandas_out = workdir / "segments-rfmsync.csv", workdir / "segments-pandas.csv"
    commands = {
        "rfmsync": [str(Path(sys.executable).parent / "rfmsync"), "score", str(path), "--as-of", as_of.isoformat(),
                    "--timezone", "UTC", "--out", str(rfmsync_out)],
        "pandas": [sys.executable, str(HERE / "pandas_reference.py"), str(path), "--as-of", as_of.isoformat(),
                   "--out", str(pandas_out)],
    }
    times = {name: float("inf") for name in commands}
    peaks = dict.fromkeys(commands, 0.0)
    for _ in range(repeat):
        for name, command in commands.items():
            elapsed, peak = timed_process(command, workdir / f"{name}.log")
            times[name], peaks[name] = min(times[name], elapsed), max(peaks[name], peak)
    problems = engine_steps.compare_csv_outputs(rfmsync_out, pandas_out)
    if problems:
        raise Mismatch(f"(c) {rfmsync_out} vs {pandas_out}: " + "; ".join(problems))
    print("(c) the two segments files agree on customer_id, r/f/m scores and segment", flush=True)
    rows = f"{len(orders.customer):,} rows"
    ratio = times["pandas"] / times["rfmsync"]
    results.rows.append((f"(c) rfmsync score, CSV {rows}", f"{times['rfmsync']:.3f}", "",
                         f"{peaks['rfmsync']:,.0f} MiB (process)"))
    results.rows.append((f"(c) pandas script, CSV {rows}", f"{times['pandas']:.3f}", f"{ratio:.2f}",
                         f"{peaks['pandas']:,.0f} MiB (process)"))
    results.goals.append(("(c) rfmsync score no slower than pandas", f"{ratio:.2f}x", ratio >= 1.0))


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: Results, args: argparse.Namespace) -> str:
    head = (f"rfmsync engine benchmark: {args.orders:,} orders, {args.customers:,} customers, CSV "
            f"{args.csv_rows:,} rows, as of {args.as_of}, best of {args.repeat} (a/b) / {args.csv_repeat} (c)")
    timing = table([("step", "time (s)", "pandas/rfmsync", "peak memory"), *results.rows])
    goals = table([("goal", "measured", "met"), *((g, m, "MET" if ok else "NOT MET") for g, m, ok in results.goals)])
    return f"\n{head}\n\n{timing}\n\n{goals}\n"


def csv_orders(args: argparse.Namespace, orders: datagen.Orders) -> datagen.Orders:
    """The CSV's orders: the generator's model at --csv-rows orders, oldest first like a real export.

    Not the first --csv-rows of the big set: datagen gives each customer exactly one of its first
    n_customers orders, so that slice would be one order per customer and every F score equal. Same
    seed and the same orders-per-customer ratio keep the file's shape that of the in-memory data.
    """
    if args.csv_rows == args.orders:
        return datagen.by_created(orders)
    customers = max(1, round(args.customers * args.csv_rows / args.orders))
    return datagen.by_created(datagen.generate(args.csv_rows, customers, args.seed))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000_000, help="orders for (a)/(b) (default 10M)")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers (default 1M)")
    parser.add_argument("--csv-rows", type=int, default=1_000_000, help="orders in the CSV for (c) (default 1M; "
                        "0 skips (c))")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs for (a)/(b) (default 3)")
    parser.add_argument("--csv-repeat", type=int, default=2, help="best of N runs for (c) (default 2)")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.fromisoformat(DEFAULT_AS_OF))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--workdir", type=Path, help="keep the CSV, outputs and logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.customers < 1 or args.orders < args.customers:
        parser.error("need 1 <= --customers <= --orders")
    if args.repeat < 1 or args.csv_repeat < 1 or args.csv_rows < 0:
        parser.error("--repeat and --csv-repeat must be at least 1, --csv-rows at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rfmsync-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        orders = datagen.generate(args.orders, args.customers, args.seed)
        print(f"generated {args.orders:,} orders for {args.customers:,} customers in "
              f"{time.perf_counter() - start:.1f} s (not timed)", flush=True)
        results = Results()
        try:
            in_memory(orders, args.as_of, args.repeat, results)
            if not args.no_memory:
                memory(orders, args.as_of, workdir, results)
            if args.csv_rows:
                csv_end_to_end(csv_orders(args, orders), args.as_of, args.csv_repeat, workdir, results)
        except Mismatch as exc:
            print(f"\nFAILED: rfmsync and pandas disagree. {exc}", file=sys.stderr)
            return 1
    print(report(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
