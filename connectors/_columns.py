"""Columns of cells, as the readers see them, whichever way the file was read.

A `TextColumn` is one column's cells: either Python strings (`StrColumn`, what the csv module gives)
or slices of the file's bytes (`_bytecol.ByteColumn`, the fast path). The readers only use the
methods below, so both kinds give the same results; `StrColumn` is the reference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._textparse import blank_mask, parse_numbers, parse_timestamps

Codes = NDArray[np.int64]

# Threads for independent column work (NumPy releases the GIL inside its loops).
WORKERS = max(1, min(4, os.cpu_count() or 1))


class TextColumn(Protocol):
    def __len__(self) -> int: ...

    def take(self, index: Codes) -> TextColumn:
        """The cells at `index`, in that order."""
        ...

    def stripped(self) -> TextColumn:
        """Each cell without leading and trailing whitespace (as str.strip)."""
        ...

    def blank(self) -> NDArray[np.bool_]:
        """Cells that are empty or only whitespace."""
        ...

    def factorize(self) -> tuple[TextColumn, Codes, Codes]:
        """(distinct cells in first-seen order, each cell's index into them, each distinct's first row)."""
        ...

    def to_list(self) -> list[str]: ...

    def as_sequence(self) -> Sequence[str]:
        """The cells as a read-only sequence; may decode lazily (a million order ids nobody reads)."""
        ...

    def numbers(self, blank_is_zero: bool = False) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """As `parse_numbers`; with `blank_is_zero`, blank cells read as "0"."""
        ...

    def timestamps(self, tz: ZoneInfo, date_format: str | None) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """As `parse_timestamps`."""
        ...


@dataclass
class Memo:
    """What a column computes once; the reader may have it computed ahead, on another thread."""

    blank: NDArray[np.bool_] | None = None
    factorized: tuple[TextColumn, Codes, Codes] | None = None
    strings: list[str] | None = None


@dataclass(frozen=True)
class StrColumn:
    """Cells as Python strings: the csv-module path, and the semantics the fast path must match."""

    values: list[str]
    is_stripped: bool = False
    memo: Memo = field(default_factory=Memo, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.values)

    def take(self, index: Codes) -> StrColumn:
        values = self.values
        return StrColumn([values[i] for i in index.tolist()], self.is_stripped)

    def stripped(self) -> StrColumn:
        return self if self.is_stripped else StrColumn([v.strip() for v in self.values], True)

    def blank(self) -> NDArray[np.bool_]:
        if self.memo.blank is None:
            if self.is_stripped:
                self.memo.blank = np.fromiter((not v for v in self.values), dtype=np.bool_, count=len(self.values))
            else:
                self.memo.blank = blank_mask(self.values)
        return self.memo.blank

    def factorize(self) -> tuple[TextColumn, Codes, Codes]:
        if self.memo.factorized is None:
            # A dict is faster than np.unique on strings (no sort) and keeps the file's order.
            index: dict[str, int] = {}
            setdefault = index.setdefault
            codes = np.fromiter((setdefault(v, len(index)) for v in self.values), dtype=np.int64,
                                count=len(self.values))
            self.memo.factorized = StrColumn(list(index), self.is_stripped), codes, first_rows(codes)
        return self.memo.factorized

    def to_list(self) -> list[str]:
        return self.values

    def as_sequence(self) -> Sequence[str]:
        return self.values

    def numbers(self, blank_is_zero: bool = False) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        if blank_is_zero:
            return parse_numbers([v if v.strip() else "0" for v in self.values])
        return parse_numbers(self.values)

    def timestamps(self, tz: ZoneInfo, date_format: str | None) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        return parse_timestamps(self.values, tz, date_format)


def factorize_rows(column: TextColumn, rows: Codes | None) -> tuple[TextColumn, Codes, Codes]:
    """`column.take(rows).factorize()` (all rows when None), refined from the whole column's
    factorization, which is computed once and may already be there."""
    distinct, codes, first = column.factorize()
    if rows is None:
        return distinct, codes, first
    of_rows = codes[rows]
    row_codes, row_first = factorize_keys(of_rows)
    return distinct.take(of_rows[row_first]), row_codes, row_first


def first_rows(codes: Codes) -> Codes:
    """Where each code first appears, for codes numbered in first-seen order (0, 1, 0, 2, ...)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    # In first-seen numbering a row starts a new value exactly where the running maximum grows.
    running = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=np.bool_)
    new[0] = True
    np.greater(running[1:], running[:-1], out=new[1:])
    return np.flatnonzero(new)


def factorize_keys(keys: NDArray[np.int64] | NDArray[np.uint64]) -> tuple[Codes, Codes]:
    """(codes, first rows) numbering equal keys in first-seen order, as a dict would.

    Tries, cheapest first: keys already strictly increasing (order ids of an export), a few
    distinct keys (statuses, currencies: a binary search among them), keys in a narrow integer range
    (numeric customer ids: a lookup table, no sort), and only then a sort.
    """
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n == 1 or bool(np.all(keys[1:] > keys[:-1])):
        return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    few = _factorize_few(keys)
    if few is not None:
        return few
    lo, hi = keys.min(), keys.max()
    if int(hi) - int(lo) < 2 * n + 65_536:
        return _factorize_dense(keys - lo, int(hi) - int(lo) + 1)
    return _factorize_sorted(keys)


def _factorize_few(keys: NDArray[np.int64] | NDArray[np.uint64]) -> tuple[Codes, Codes] | None:
    """For keys with few distinct values (statuses, currencies), found in a sample: each key's place
    among them by binary search, no sort of the whole column. None when a key is not in the sample."""
    values = np.unique(keys[:4096])
    if len(values) > 64:
        return None
    if len(values) == 1 and bool((keys == values[0]).all()):  # one value (a file's only currency)
        return np.zeros(len(keys), dtype=np.int64), np.zeros(1, dtype=np.int64)
    place = np.searchsorted(values, keys)
    np.minimum(place, len(values) - 1, out=place)
    if not bool((values[place] == keys).all()):
        return None
    first_at = np.full(len(values), len(keys), dtype=np.int64)
    np.minimum.at(first_at, place, np.arange(len(keys), dtype=np.int64))
    order = np.argsort(first_at)  # the values in first-seen order
    code_of = np.empty(len(values), dtype=np.int64)
    code_of[order] = np.arange(len(values), dtype=np.int64)
    return code_of[place], first_at[order]


def _factorize_dense(offsets: NDArray[np.intp], span: int) -> tuple[Codes, Codes]:
    n = len(offsets)
    first_at = np.full(span, n, dtype=np.int64)
    np.minimum.at(first_at, offsets, np.arange(n, dtype=np.int64))
    # Marking each value's first row and reading the marks in row order numbers the values in
    # first-seen order without sorting.
    is_first = np.zeros(n, dtype=np.bool_)
    is_first[first_at[first_at < n]] = True
    first = np.flatnonzero(is_first)
    code_at = np.zeros(span, dtype=np.int64)
    code_at[offsets[first]] = np.arange(len(first), dtype=np.int64)
    return code_at[offsets], first


def _factorize_sorted(keys: NDArray[np.int64] | NDArray[np.uint64]) -> tuple[Codes, Codes]:
    n = len(keys)
    order = np.argsort(keys)
    ordered = keys[order]
    new = np.empty(n, dtype=np.bool_)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    group_of_sorted = np.cumsum(new) - 1
    # The sort need not be stable: the first row of a group is the smallest row in it.
    group_first = np.minimum.reduceat(order, np.flatnonzero(new))
    is_first = np.zeros(n, dtype=np.bool_)
    is_first[group_first] = True
    first = np.flatnonzero(is_first)
    rank_of_row = np.cumsum(is_first) - 1
    group_code = rank_of_row[group_first]
    codes = np.empty(n, dtype=np.int64)
    codes[order] = group_code[group_of_sorted]
    return codes, first
