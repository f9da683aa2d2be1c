"""Splitting a simple CSV file's bytes into rows and fields with NumPy (see `_fastcsv`).

The result is column-major: `ends[j, i]` is the position of the comma or newline ending field j of
row i, so each column's cells are two contiguous arrays away (its ends, and the previous column's
ends plus one). Lines are split in chunks of whole lines on worker threads; a chunk whose lines all
have the header's number of fields is written straight into `ends`. A file with blank lines or any
other irregular line is split again by `_split_irregular`, which copes with blank lines and gives up
(returns a reason) on anything else.
"""

from __future__ import annotations

import csv
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._bytecol import PAD, Positions
from rfmsync.connectors._columns import WORKERS

# Whitespace str.strip() removes, in ASCII, for telling blank lines (skipped) from short rows.
LINE_WHITESPACE = b" \t\x0b\x0c\x1c\x1d\x1e\x1f"
_CHUNK = 1 << 21  # bytes: big enough to amortise NumPy calls, small enough for each chunk's masks to stay in cache


@dataclass(frozen=True)
class Split:
    row_before: Positions  # the newline before each row
    ends: Positions  # (fields, rows): the separator ending each field; int32 for files under 2 GiB
    lines: NDArray[np.int64] | None  # physical line number of each row; None: row i is on line i + 2


def split_rows(buf: bytearray, body: int, size: int, width: int) -> Split | str:
    """The rows of buf[body:size] (whole lines, the last ending in a newline), or why not."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    bounds = [body]
    while bounds[-1] < size:  # chunk ends just after a newline, so chunks hold whole lines
        cut = buf.find(b"\n", min(bounds[-1] + _CHUNK, size - 1), size)
        bounds.append(cut + 1)
    # Each row takes at least `width` bytes: room for every row; pages never written cost nothing.
    ends = np.empty((width, (size - body) // width + 1), dtype=np.int32 if size < 2**31 - PAD else np.int64)
    limit = csv.field_size_limit()
    n = 0
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        chunks = pool.map(lambda lo_hi: _regular_chunk(arr, lo_hi[0], lo_hi[1], width, limit),
                          itertools.pairwise(bounds))
        for chunk in chunks:
            if chunk is None:
                return _split_irregular(buf, body, size, width)
            ends[:, n:n + len(chunk)] = chunk.T
            n += len(chunk)
    ends = ends[:, :n]
    row_before = np.empty(n, dtype=ends.dtype)
    row_before[0] = body - 1
    row_before[1:] = ends[-1, :-1]
    return Split(row_before, ends, None)


def _regular_chunk(arr: NDArray[np.uint8], lo: int, hi: int, width: int, limit: int) -> NDArray[np.int64] | None:
    """(rows, width) separator positions of arr[lo:hi] if every line has `width` fields, else None."""
    chunk = arr[lo:hi]
    is_sep = chunk == ord(",")
    is_sep |= chunk == ord("\n")
    at = np.flatnonzero(is_sep)
    if len(at) % width:
        return None
    rows = at.reshape(-1, width)
    newline = chunk[at] == ord("\n")
    # Exactly one newline per `width` separators, and it is the last: every line is a full row.
    if int(np.count_nonzero(newline)) != len(rows) or not bool(newline.reshape(-1, width)[:, -1].all()):
        return None
    # csv's field size limit is per field; no line longer than it has a longer field.
    if int(np.diff(rows[:, -1], prepend=-1).max()) - 1 > limit:
        return None
    rows += lo
    return rows


def _split_irregular(buf: bytearray, body: int, size: int, width: int) -> Split | str:
    """As split_rows for a file with blank lines (skipped, as csv does); a reason for anything else."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    part = arr[body:size]
    is_sep = part == ord(",")
    is_sep |= part == ord("\n")
    seps = np.flatnonzero(is_sep)
    del is_sep
    seps += body
    newline_at = np.flatnonzero(arr[seps] == ord("\n"))  # where each line ends, as an index into seps
    line_ends = seps[newline_at]
    if int(np.diff(line_ends, prepend=body - 1).max()) - 1 > csv.field_size_limit():
        return "a line longer than the csv field size limit"
    fields = np.diff(newline_at, prepend=-1)  # separators per line, the newline included
    full = fields == width
    for k in np.flatnonzero(~full).tolist():
        start = int(line_ends[k - 1]) + 1 if k else body
        if fields[k] != 1 or bytes(buf[start:int(line_ends[k])]).strip(LINE_WHITESPACE):
            return "a line with another number of fields than the header"
    rows = np.flatnonzero(full)
    if not len(rows):
        return "no rows"
    first_sep = np.where(rows > 0, newline_at[np.maximum(rows - 1, 0)] + 1, 0)
    ends = seps[first_sep[None, :] + np.arange(width)[:, None]]
    row_before = np.where(rows > 0, line_ends[np.maximum(rows - 1, 0)], body - 1)
    return Split(row_before, ends, rows + 2)  # line 1 is the header
