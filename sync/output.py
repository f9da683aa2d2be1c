"""Writing the segments file, the rejects file and the summary a person reads."""

from __future__ import annotations

import csv
import io
import itertools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.csvfile import Reject
from rfmsync.core.errors import InputError
from rfmsync.core.fields import field_columns
from rfmsync.core.rfm import ScoredCustomers

# After customer_id, each column is a pushable field of the same name (core/fields.py).
OUTPUT_COLUMNS = ("customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
                  "rfm_cell", "rfm_score", "segment")


def customer_order(ids: Sequence[str]) -> NDArray[np.int64]:
    """Positions sorting customer ids: numerically when every id is a whole number, else as text.

    Shops number customers (2 before 10); sorting such ids as text would surprise them.
    """
    if not ids:
        return np.zeros(0, dtype=np.int64)
    # Every id non-empty, shorter than 19 and all digits, tested in C rather than id by id.
    if all(ids) and max(map(len, ids)) < 19 and "".join(ids).isdigit():
        return np.argsort(np.array(ids, dtype=np.int64), kind="stable")
    return np.argsort(np.array(ids, dtype=str), kind="stable")


def segment_columns(scored: ScoredCustomers, emails: dict[str, str] | None = None
                    ) -> tuple[list[str], list[list[str]]]:
    """Header and columns of the segments file, rows sorted by customer id: the customer id, then the
    same fields, formatted the same way, as sinks are sent (core/fields.py)."""
    metrics = scored.metrics
    ids = [metrics.customer_ids[i] for i in metrics.customer_index.tolist()]
    order = customer_order(ids)
    sorted_ids = list(map(ids.__getitem__, order.tolist()))
    header = list(OUTPUT_COLUMNS)
    if scored.scheme.has_micro_segments:
        header.append("micro_segment")
    columns = [sorted_ids, *field_columns(scored, header[1:], order)]
    if emails:
        header.append("email")
        columns.append(list(map(emails.get, sorted_ids, itertools.repeat(""))))
    return header, columns


def write_csv(target: Path | None, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Writes to `target` atomically (temp file, then rename), or to stdout when None."""
    _write_atomically(target, lambda handle: _write(handle, header, rows))


def write_columns(target: Path | None, header: Sequence[str], columns: Sequence[Sequence[str]]) -> None:
    """What write_csv writes for the rows of `columns`, byte for byte, built as one string.

    csv.writer formats row by row in Python; for 100k customers joining the columns is ~10x faster.
    """
    fields = [_csv_fields(column) for column in columns]
    lines = [",".join(_csv_fields(header)), *map(",".join, zip(*fields, strict=True))]
    _write_atomically(target, lambda handle: handle.write("\n".join(lines) + "\n"))


def _write_atomically(target: Path | None, write: Callable[[IO[str]], object]) -> None:
    if target is None:
        write(sys.stdout)
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file 0600, which the rename keeps: these files hold customers' emails.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise InputError(f"{target}: cannot write ({exc.strerror or type(exc).__name__})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{target}: cannot write ({exc.strerror or type(exc).__name__})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(handle: IO[str], header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _csv_quoted(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([value])
    return out.getvalue()[:-1]


# The characters that make csv.writer quote a field (delimiter, quote, line end), found by asking it
# rather than assumed; only ASCII characters have such roles.
_QUOTE_TRIGGERS = tuple(ch for ch in map(chr, range(128)) if _csv_quoted(f"a{ch}b") != f"a{ch}b")


def _csv_fields(values: Sequence[str]) -> Sequence[str]:
    """Values as csv.writer writes them in a row of several fields: quoted where needed."""
    joined = "".join(values)
    if not any(ch in joined for ch in _QUOTE_TRIGGERS):
        return values
    return [_csv_quoted(v) if any(ch in v for ch in _QUOTE_TRIGGERS) else v for v in values]


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
