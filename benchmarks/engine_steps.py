"""The steps the engine benchmark times and checks: rfmsync's engine and the pandas reference on the
same generated orders, the comparisons between them, and the peak-memory probe.

`python benchmarks/engine_steps.py --memory rfmsync|pandas DATA_DIR` is the probe's child process.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import datagen
import numpy as np
import pandas as pd
import pandas_reference
from numpy.typing import NDArray
from rfmsync.core.aggregate import aggregate
from rfmsync.core.batch import MONEY_SCALE, OrderBatch
from rfmsync.core.models import STATUS_CODES, OrderStatus
from rfmsync.core.rfm import RfmSettings, ScoredCustomers, score

UTC = ZoneInfo("UTC")
CLASSIC = RfmSettings(scheme="classic")
ARRAYS = ("customer", "created", "cents", "status")  # the datagen.Orders fields, saved for the probe


def build_batch(orders: datagen.Orders) -> OrderBatch:
    """rfmsync's columnar input, straight from the arrays: customer code c is customer id str(c + 1)."""
    n_customers = int(orders.customer.max()) + 1 if len(orders.customer) else 0
    status_map = np.asarray([STATUS_CODES[OrderStatus(name)] for name in datagen.STATUSES], dtype=np.uint8)
    return OrderBatch(
        customer_ids=[str(c + 1) for c in range(n_customers)],
        customer_codes=orders.customer.astype(np.int64),
        created_utc=orders.created.astype(np.int64),
        amount_units=orders.cents * (MONEY_SCALE // 100),
        status_codes=status_map[orders.status],
    )


def build_frame(orders: datagen.Orders) -> pd.DataFrame:
    """The same orders as the DataFrame pandas_reference takes (what read_csv gives for the CSV layout)."""
    return pd.DataFrame({
        "customer_id": orders.customer + 1,
        "created_at": pd.to_datetime(orders.created, unit="s", utc=True),
        "cents": orders.cents,
        # Category, as an analyst would load a column of a few repeated words (and the counterpart of
        # rfmsync's status codes).
        "status": pd.Categorical.from_codes(orders.status, categories=list(datagen.STATUSES)),
    })


def run_rfmsync(batch: OrderBatch, as_of: date) -> ScoredCustomers:
    """Step (a): aggregate, score and segment."""
    metrics, _ = aggregate(batch, as_of, UTC)
    return score(metrics, CLASSIC)


def run_pandas(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Step (b): the same rules in pandas."""
    return pandas_reference.rfm_segments(frame, as_of)


def compare_in_memory(scored: ScoredCustomers, reference: pd.DataFrame) -> list[str]:
    """Differences between rfmsync's and pandas' customers, metrics, scores and segments ([] if none)."""
    metrics = scored.metrics
    # customer_ids[i] is str(i + 1) (build_batch), so ids compare as integers without string work.
    ids = metrics.customer_index + 1
    ref_ids = reference.index.to_numpy(dtype=np.int64)
    if len(ids) != len(ref_ids) or not np.array_equal(ids, ref_ids):
        return [f"scored customers differ: rfmsync {len(ids):,}, pandas {len(ref_ids):,}"]
    names = np.asarray([*scored.segment_names, ""], dtype=object)  # code -1 (no segment) picks ""
    columns: dict[str, tuple[NDArray[np.generic], NDArray[np.generic]]] = {
        "recency_days": (metrics.recency_days, reference["recency_days"].to_numpy()),
        "frequency": (metrics.frequency.astype(np.int64), reference["frequency"].to_numpy()),
        "monetary (cents)": (np.rint(metrics.monetary * 100).astype(np.int64),
                             reference["monetary_cents"].to_numpy()),
        "r_score": (scored.scores.r, reference["r_score"].to_numpy()),
        "f_score": (scored.scores.f, reference["f_score"].to_numpy()),
        "m_score": (scored.scores.m, reference["m_score"].to_numpy()),
        "segment": (names[scored.segment_codes], reference["segment"].to_numpy(dtype=object)),
    }
    return [_describe(name, ids, ours, theirs) for name, (ours, theirs) in columns.items()
            if not np.array_equal(ours, theirs)]


def _describe(column: str, ids: NDArray[np.int64], ours: NDArray[np.generic], theirs: NDArray[np.generic]) -> str:
    differ = np.flatnonzero(ours != theirs)
    examples = ", ".join(f"customer {ids[i]}: rfmsync {ours[i]!r} pandas {theirs[i]!r}" for i in differ[:3])
    return f"{column}: {len(differ):,} customers differ (e.g. {examples})"


CSV_KEY_COLUMNS = ["customer_id", "r_score", "f_score", "m_score", "segment"]


def compare_csv_outputs(rfmsync_csv: Path, pandas_csv: Path) -> list[str]:
    """Row-by-row differences of the two segments files in the key columns ([] if none).

    Both files are sorted by customer id, so comparing rows in place also checks the ordering.
    """
    ours = pd.read_csv(rfmsync_csv, usecols=CSV_KEY_COLUMNS, dtype=str, keep_default_na=False)
    theirs = pd.read_csv(pandas_csv, usecols=CSV_KEY_COLUMNS, dtype=str, keep_default_na=False)
    if len(ours) != len(theirs):
        return [f"row counts differ: rfmsync {len(ours):,}, pandas {len(theirs):,}"]
    problems = []
    for column in CSV_KEY_COLUMNS:
        differ = np.flatnonzero(ours[column].to_numpy() != theirs[column].to_numpy())
        if len(differ):
            row = int(differ[0])
            problems.append(f"{column}: {len(differ):,} rows differ (first at data row {row + 1}: rfmsync "
                            f"{ours[column].iat[row]!r}, pandas {theirs[column].iat[row]!r})")
    return problems


# --- Peak memory -----------------------------------------------------------------------------------
# Why a child process and RSS: the parent holds the 10M generated orders, the DataFrame copy and the
# high-water mark of generation, any of which would hide the step's own peak. The child loads only
# the step's input arrays from .npy files (a load allocates exactly the arrays, no temporaries),
# builds the input, takes its current RSS as the baseline, resets the kernel's high-water mark where
# Linux allows it (/proc/self/clear_refs) and runs the step once: peak minus baseline is the memory
# the step itself needs, as the OS sees it (NumPy's sort and ufunc scratch buffers included). Without
# the reset the peak also covers building the input, which can only overstate the step's need. The
# peak is VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into a child's ru_maxrss
# across fork and exec, so ru_maxrss would report the parent's 10M orders.
# tracemalloc (NumPy reports its array buffers to it) is run on a second pass as a cross-check; it is
# not the headline because it misses untracked C allocations and slows allocation-heavy Python.


def save_arrays(orders: datagen.Orders, directory: Path) -> None:
    for name in ARRAYS:
        np.save(directory / f"{name}.npy", getattr(orders, name))


def _load_arrays(directory: Path) -> datagen.Orders:
    return datagen.Orders(**{name: np.load(directory / f"{name}.npy") for name in ARRAYS})


def status_kib(field: str, pid: int | str = "self") -> int | None:
    """A /proc/PID/status memory field (VmRSS, VmHWM) in KiB; None where there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # "5": reset the peak RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def measure_memory(step: str, directory: Path, as_of: date) -> dict[str, float | bool]:
    """Peak memory of one step above its inputs, in MiB (run in a fresh process: see above)."""
    orders = _load_arrays(directory)
    run: Callable[[], object]
    if step == "rfmsync":
        run = functools.partial(run_rfmsync, build_batch(orders), as_of)
    else:
        run = functools.partial(run_pandas, build_frame(orders), as_of)
    del orders
    baseline = status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = _reset_peak()
    run()
    peak = status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    run()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"baseline_mib": baseline / 1024, "peak_mib": peak / 1024, "step_mib": (peak - baseline) / 1024,
            "tracemalloc_mib": traced_peak / 2**20, "peak_reset": reset}


def main() -> int:
    parser = argparse.ArgumentParser(description="Peak-memory probe of one engine benchmark step.")
    parser.add_argument("--memory", choices=("rfmsync", "pandas"), required=True)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--as-of", required=True, type=date.fromisoformat)
    args = parser.parse_args()
    print(json.dumps(measure_memory(args.memory, args.data_dir, args.as_of)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
