"""Columns of cells, as the readers see them: one column of a file read by pyarrow.

An `ArrowColumn` holds a column's cells as a pyarrow string array; stripping, blanks,
factorizing and parsing run in pyarrow's C++ kernels, so no Python string exists per cell until
a reader asks for one (customer ids, for the batch). `TextColumn` is its interface, kept separate
so a reader's code says what it needs of a column.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.textparse import blank_mask, parse_numbers, parse_timestamps

Codes = NDArray[np.int64]

# Threads for independent column work (pyarrow and NumPy release the GIL inside their kernels).
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
        """The cells as a read-only sequence."""
        ...

    def numbers(self, blank_is_zero: bool = False, decimal: str | None = None
                ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """As `parse_numbers`; with `blank_is_zero`, blank cells read as 0."""
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
class ArrowColumn:
    """Cells as a pyarrow string array without nulls."""

    values: pa.Array
    is_stripped: bool = False
    memo: Memo = field(default_factory=Memo, repr=False, compare=False)

    @staticmethod
    def of(values: Sequence[str]) -> ArrowColumn:
        return ArrowColumn(pa.array(values, type=pa.string()))

    def __len__(self) -> int:
        return len(self.values)

    def take(self, index: Codes) -> ArrowColumn:
        return ArrowColumn(self.values.take(pa.array(index, type=pa.int64())), self.is_stripped)

    def stripped(self) -> ArrowColumn:
        return self if self.is_stripped else ArrowColumn(pc.utf8_trim_whitespace(self.values), True)

    def blank(self) -> NDArray[np.bool_]:
        if self.memo.blank is None:
            if self.is_stripped:
                self.memo.blank = pc.binary_length(self.values).to_numpy(zero_copy_only=False) == 0
            else:
                self.memo.blank = blank_mask(self.values)
        return self.memo.blank

    def factorize(self) -> tuple[TextColumn, Codes, Codes]:
        if self.memo.factorized is None:
            numeric = self._factorize_numeric()
            if numeric is not None:
                self.memo.factorized = numeric
                return numeric
            # dictionary_encode numbers values in first-seen order, as a dict would.
            encoded = pc.dictionary_encode(self.values)
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            self.memo.factorized = ArrowColumn(encoded.dictionary, self.is_stripped), codes, first_rows(codes)
        return self.memo.factorized

    def _factorize_numeric(self) -> tuple[TextColumn, Codes, Codes] | None:
        """Order and customer ids of most exports are plain numbers: as integers they factorize
        without hashing strings (increasing order ids need no work at all). Only canonical digits
        qualify, so "007" and "7" stay two ids."""
        if len(self.values) < 1024 or not str(self.values[0]).isdigit():  # the first cell rules out most columns
            return None
        if not pc.all(pc.match_substring_regex(self.values, r"^(0|[1-9]\d{0,17})$")).as_py():
            return None
        keys = pc.cast(self.values, pa.int64()).to_numpy(zero_copy_only=False)
        codes, first = factorize_keys(keys)
        return ArrowColumn(self.values.take(pa.array(first)), self.is_stripped), codes, first

    def to_list(self) -> list[str]:
        if self.memo.strings is None:
            self.memo.strings = self.values.to_pylist()
        return self.memo.strings

    def as_sequence(self) -> Sequence[str]:
        # Order ids and emails of a million orders that `rfmsync score` never reads: decoded on access.
        return self.memo.strings if self.memo.strings is not None else _LazyStrings(self.values)

    def numbers(self, blank_is_zero: bool = False, decimal: str | None = None
                ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        values = self.values
        if blank_is_zero:
            values = pc.if_else(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0), "0", values)
        return parse_numbers(values, decimal)

    def timestamps(self, tz: ZoneInfo, date_format: str | None) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        return parse_timestamps(self.values, tz, date_format)


class _LazyStrings(Sequence[str]):
    def __init__(self, values: pa.Array) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values.to_pylist())  # all at once in C, not one scalar at a time

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.values[index].to_pylist()
        return self.values[index].as_py()


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
