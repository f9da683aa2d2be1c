"""Order-file readers side by side on the same files: why rfmsync reads CSV with pyarrow.

    .venv/bin/python benchmarks/csv_readers.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/csv_readers.py --rows 100000   # quick

Each file is read into per-order columns (customer, UTC time, amount in 1/10,000 units):
- rfmsync: `read_orders_file` (pyarrow's CSV reader and kernels, dialect detection, rejects);
- csv module: Python's csv.reader, then the same parsing from Python strings (the old general path);
- pandas: `read_csv` with the same columns parsed (`to_datetime`, numbers), the usual tool.
Files: plain (no quotes), every field quoted, and semicolons with decimal commas. rfmsync's orders are
checked against the csv-module reading: if any order differs the script exits 1.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import datagen
import numpy as np
from rfmsync.connectors.orderfiles.lines import OrdersRead
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.orders import read_orders_file


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def rfmsync_read(path: Path) -> OrdersRead:
    return read_orders_file(path, None, ReadOptions(tz=ZoneInfo("UTC")))


def as_lists(read: OrdersRead) -> tuple[list[str], list[int], list[int]]:
    """rfmsync's orders in the csv module's shape, for the check (not timed)."""
    batch = read.batch
    ids = [batch.customer_ids[c] for c in batch.customer_codes.tolist()]
    return ids, batch.created_utc.tolist(), batch.amount_units.tolist()


def csv_module_read(path: Path, sep: str, decimal_comma: bool) -> tuple[list[str], list[int], list[int]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader)
        c, d, a = header.index("customer_id"), header.index("created_at"), header.index("total")
        ids, times, units = [], [], []
        for row in reader:
            ids.append(row[c].strip())
            times.append(int(datetime.fromisoformat(row[d]).timestamp()))
            text = row[a].replace(".", "").replace(",", ".") if decimal_comma else row[a]
            units.append(round(float(text) * 10_000))
    return ids, times, units


def pandas_read(path: Path, sep: str, decimal_comma: bool) -> int:
    import pandas as pd

    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, decimal=",")
    created = pd.to_datetime(frame["created_at"], utc=True)
    total = frame["total"].str.replace(".", "", regex=False).str.replace(",", ".", regex=False) \
        if decimal_comma else frame["total"]
    amount = (pd.to_numeric(total) * 10_000).round()
    return int(len(frame) + len(created) + len(amount))


def write_variants(workdir: Path, rows: int) -> dict[str, tuple[Path, str, bool]]:
    orders = datagen.by_created(datagen.generate(rows, max(1, rows // 10), 20261122))
    plain = workdir / "plain.csv"
    datagen.write_csv(orders, plain)
    quoted = workdir / "quoted.csv"
    semicolon = workdir / "semicolon.csv"
    with open(plain, newline="", encoding="utf-8") as src, open(quoted, "w", newline="", encoding="utf-8") as q, \
            open(semicolon, "w", newline="", encoding="utf-8") as s:
        reader = csv.reader(src)
        quoting = csv.writer(q, quoting=csv.QUOTE_ALL, lineterminator="\n")
        semi = csv.writer(s, delimiter=";", lineterminator="\n")
        header = next(reader)
        total = header.index("total")
        quoting.writerow(header)
        semi.writerow(header)
        for row in reader:
            quoting.writerow(row)
            row[total] = row[total].replace(".", ",")
            semi.writerow(row)
    return {"plain": (plain, ",", False), "all quoted": (quoted, ",", False),
            "semicolon, decimal comma": (semicolon, ";", True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        import pandas  # noqa: F401
        has_pandas = True
    except ImportError:
        has_pandas = False
    table = [("file", "rfmsync (pyarrow)", "csv module", "pandas", "rfmsync vs csv module")]
    with tempfile.TemporaryDirectory(prefix="rfmsync-readers-") as tmp:
        for name, (path, sep, comma) in write_variants(Path(tmp), args.rows).items():
            ours, got = best_of(args.repeat, lambda p=path: rfmsync_read(p))  # type: ignore[misc]
            theirs, expected = best_of(1, lambda p=path, s=sep, c=comma: csv_module_read(p, s, c))  # type: ignore[misc]
            if as_lists(got) != expected:
                diffs = int(np.count_nonzero(np.asarray(as_lists(got)[2]) != np.asarray(expected[2])))
                print(f"FAILED: {name}: rfmsync and the csv module disagree ({diffs} amounts)", file=sys.stderr)
                return 1
            panda = best_of(args.repeat, lambda p=path, s=sep, c=comma: pandas_read(p, s, c))[0] \
                if has_pandas else float("nan")  # type: ignore[misc]
            table.append((name, f"{ours:.2f} s", f"{theirs:.2f} s", f"{panda:.2f} s", f"{theirs / ours:.1f}x"))
            print(f"{name}: rfmsync {ours:.2f} s, csv module {theirs:.2f} s, pandas {panda:.2f} s", flush=True)
    print(f"\n{args.rows:,} rows, best of {args.repeat} (csv module: 1 run); orders identical to the csv module's\n")
    for row in table:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
