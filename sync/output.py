"""Writing the segments file, the rejects file and the summary a person reads."""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._csvfile import Reject
from rfmsync.core.rfm import ScoredCustomers

OUTPUT_COLUMNS = ("customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
                  "rfm_cell", "rfm_score", "segment")


def customer_order(ids: Sequence[str]) -> NDArray[np.int64]:
    """Positions sorting customer ids: numerically when every id is a whole number, else as text.

    Shops number customers (2 before 10); sorting such ids as text would surprise them.
    """
    if not ids:
        return np.zeros(0, dtype=np.int64)
    if all(i.isdigit() and len(i) < 19 for i in ids):
        return np.argsort(np.array(ids, dtype=np.int64), kind="stable")
    return np.argsort(np.array(ids, dtype=str), kind="stable")


def _number(values: NDArray[np.float64], places: int) -> list[str]:
    """Decimal text without float noise; whole numbers without a fraction."""
    if np.all(values == np.round(values)):
        return [str(v) for v in values.astype(np.int64).tolist()]
    return [f"{v:.{places}f}" for v in values.tolist()]


def segment_rows(scored: ScoredCustomers, emails: dict[str, str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the segments file, sorted by customer id."""
    metrics = scored.metrics
    ids = [metrics.customer_ids[i] for i in metrics.customer_index.tolist()]
    order = customer_order(ids)
    header = list(OUTPUT_COLUMNS)
    columns: list[list[str]] = [
        [ids[i] for i in order.tolist()],
        [str(v) for v in metrics.recency_days[order].tolist()],
        _number(metrics.frequency[order], 4),
        [f"{v:.2f}" for v in metrics.monetary[order].tolist()],
        [str(v) for v in scored.scores.r[order].tolist()],
        [str(v) for v in scored.scores.f[order].tolist()],
        [str(v) for v in scored.scores.m[order].tolist()],
        [str(v) for v in (scored.scores.r * 100 + scored.scores.f * 10 + scored.scores.m)[order].tolist()],
        [f"{v:.2f}" for v in scored.rfm_score[order].tolist()],
    ]
    labels = scored.segment_labels()
    columns.append([labels[i] for i in order.tolist()])
    if scored.scheme.has_micro_segments:
        header.append("micro_segment")
        r, f = scored.scores.r[order].tolist(), scored.scores.f[order].tolist()
        columns.append([f"R{a}F{b}" for a, b in zip(r, f, strict=True)])
    if emails:
        header.append("email")
        columns.append([emails.get(ids[i], "") for i in order.tolist()])
    return header, [list(row) for row in zip(*columns, strict=True)]


def write_csv(target: Path | None, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Writes to `target` atomically (temp file, then rename), or to stdout when None."""
    if target is None:
        _write(sys.stdout, header, rows)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            _write(handle, header, rows)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(handle: IO[str], header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def rejects_path_for(out: Path | None) -> Path:
    if out is None:
        return Path("rfmsync-rejects.csv")
    return out.with_name(f"{out.stem}.rejects{out.suffix or '.csv'}")


def write_rejects(target: Path, header: Sequence[str], rejects: Sequence[Reject]) -> None:
    """Line number, column and reason, then the rejected row as it was, so it can be fixed and re-read."""
    rows = [[str(r.line), r.column or "", r.reason, *r.raw] for r in rejects]
    write_csv(target, ["line", "column", "reason", *header], rows)


def text_table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = io.StringIO()
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.write("  ".join(cells).rstrip() + "\n")
    return out.getvalue()
