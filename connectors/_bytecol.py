"""Cells as slices of the file's bytes: the fast path's columns, parsed with NumPy, no row loops.

A `ByteColumn` holds, for one column, where each cell is in the file's bytes. Only
ASCII columns are held this way (`_fastcsv` decodes any other column into a `StrColumn`), so byte
operations mean exactly what the str operations of `StrColumn` mean. Anything the vectorised code
does not recognise as plainly valid goes back to the reference parsers in `_textparse`, one value
at a time or once per distinct value, so results never differ between the two paths.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload
from zoneinfo import ZoneInfo

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray
from rfmsync.connectors._columns import Codes, Memo, StrColumn, TextColumn, factorize_keys
from rfmsync.connectors._swar import cell_words, digit_values, long_decimals, short_decimals, word_hash
from rfmsync.connectors._textparse import parse_numbers, parse_timestamps
from rfmsync.core.timezones import naive_local_to_utc

# Zero bytes kept after the file's end, so fixed-width windows starting in the last cells never
# read past the buffer.
PAD = 64
# Rows per block of work: per-block arrays (~0.5 MB) stay in cache and are reused, where whole-column
# temporaries of a million rows would each be fresh memory (page faults) streamed through RAM.
BLOCK = 1 << 16

# What str.strip() removes, restricted to ASCII. "\n" and "\r" are left out on purpose: they never
# occur inside a fast-path cell, and keeping them out lets an empty cell's neighbouring separator
# stop the scan.
_WHITESPACE = np.zeros(256, dtype=np.bool_)
_WHITESPACE[[9, 11, 12, 28, 29, 30, 31, 32]] = True

Positions = NDArray[np.int32] | NDArray[np.int64]


@dataclass(frozen=True)
class ByteColumn:
    """Cell i is buf[before[i] + 1:after[i]]: the bytes between the separators around it.

    From a table, `before` and `after` are its separator arrays themselves (the previous column's
    ends and this column's ends), so a column costs no memory of its own; starts and lengths are
    worked out a block of rows at a time where they are needed.
    """

    buf: NDArray[np.uint8]  # the whole file, PAD zero bytes at the end
    before: Positions
    after: Positions
    is_stripped: bool = False
    memo: Memo = field(default_factory=Memo, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.before)

    @property
    def starts(self) -> NDArray[np.int64]:
        starts: NDArray[np.int64] = self.before.astype(np.int64)
        starts += 1
        return starts

    @property
    def lengths(self) -> NDArray[np.int64]:
        lengths: NDArray[np.int64] = self.after.astype(np.int64)
        lengths -= self.before
        lengths -= 1
        return lengths

    def take(self, index: Codes) -> ByteColumn:
        return ByteColumn(self.buf, self.before[index], self.after[index], self.is_stripped)

    def blocks(self) -> Iterator[tuple[slice, ByteColumn]]:
        """The column in runs of BLOCK rows (views), so that work arrays stay small and in cache."""
        for lo in range(0, len(self), BLOCK):
            part = slice(lo, lo + BLOCK)
            yield part, ByteColumn(self.buf, self.before[part], self.after[part], self.is_stripped)

    def stripped(self) -> ByteColumn:
        if self.is_stripped:
            return self
        buf = self.buf
        # Each cell's first and last byte (for an empty cell, read this way, its separators: never
        # whitespace). Every whitespace byte is <= 32, so one comparison per end rules out nearly all
        # cells; the few left are looked up exactly.
        first, last = buf[1:][self.before], buf[self.after - 1]
        maybe = first <= 32
        maybe |= last <= 32
        rows = np.flatnonzero(maybe)
        leading, trailing = rows[_WHITESPACE[first[rows]]], rows[_WHITESPACE[last[rows]]]
        if not len(leading) and not len(trailing):
            return ByteColumn(buf, self.before, self.after, True)
        starts, lengths = self.starts, self.lengths
        _strip_end(buf, starts, lengths, leading, True)
        _strip_end(buf, starts, lengths, trailing, False)
        return ByteColumn(buf, starts - 1, starts + lengths, True)

    def blank(self) -> NDArray[np.bool_]:
        if self.memo.blank is None:
            stripped = self.stripped()
            self.memo.blank = (stripped.after - stripped.before) == 1
        return self.memo.blank

    def width(self) -> int:
        return int((self.after - self.before).max()) - 1 if len(self) else 0

    def matrix(self, width: int) -> NDArray[np.uint8]:
        """Cells as rows of `width` bytes, zero past each cell's end (longer cells are cut)."""
        buf = self.buf
        if width > PAD:
            buf = np.concatenate((buf, np.zeros(width, dtype=np.uint8)))
        # Overlapping windows of the buffer: gathering rows of it copies each cell in one go.
        windows = as_strided(buf, shape=(len(buf) - width + 1, width), strides=(1, 1), writeable=False)
        out: NDArray[np.uint8] = windows[self.starts]
        lengths = self.lengths
        if bool((lengths < width).any()):
            out *= np.arange(width) < lengths[:, None]
        return out

    def words(self) -> NDArray[np.uint64]:
        """Each cell as 64-bit words: (n, ceil(width / 8)); equal cells have equal rows and back."""
        return cell_words(self.buf, self.starts, self.lengths, max(1, -(-self.width() // 8)))

    def is_ascii(self) -> bool:
        high = np.uint64(0x8080808080808080)
        return not any(bool((cells.words() & high).any()) for _, cells in self.blocks())

    def factorize(self) -> tuple[TextColumn, Codes, Codes]:
        if self.memo.factorized is None:
            self.memo.factorized = self._factorize()
        return self.memo.factorized

    def _factorize(self) -> tuple[TextColumn, Codes, Codes]:
        keys, hashed = self._keys()
        codes, first = factorize_keys(keys)
        if hashed and not self._same_as(codes, first):
            return StrColumn(self.to_list(), self.is_stripped).factorize()  # a hash collision: exact path
        return self.take(first), codes, first

    def _keys(self) -> tuple[NDArray[np.int64] | NDArray[np.uint64], bool]:
        """A key per cell, equal for equal cells, and whether unequal cells may share one (hashed)."""
        n_words = max(1, -(-self.width() // 8))
        if n_words <= 2:
            # Canonical digit strings: their numbers are exact keys, and often in a narrow range.
            numbers = np.empty(len(self), dtype=np.int64)
            for part, cells in self.blocks():
                lengths = cells.lengths
                values = digit_values(cell_words(self.buf, cells.starts, lengths, n_words), lengths)
                if values is None:
                    break
                numbers[part] = values
            else:
                return numbers, False
        # A cell of up to 8 bytes is its first word; a longer one is keyed on a hash of that word and
        # its length, and checked afterwards (_same_as).
        keys = np.empty(len(self), dtype=np.uint64)
        for part, cells in self.blocks():
            lengths = cells.lengths
            word = cell_words(self.buf, cells.starts, lengths, 1)[:, 0]
            keys[part] = word if n_words == 1 else np.where(lengths <= 8, word, word_hash(word, lengths))
        return keys, n_words > 1

    def _same_as(self, codes: Codes, first: Codes) -> bool:
        """Whether every cell equals cell `first[its code]`. Short cells keyed by their word are equal
        to a short first cell of their code, so only codes with a long cell in them need comparing."""
        long = (self.after - self.before) > 9
        suspect = np.zeros(len(first), dtype=np.bool_)
        suspect[codes[long]] = True
        suspect[long[first]] = True
        rows = np.flatnonzero(suspect[codes])
        for lo in range(0, len(rows), BLOCK):
            cells = self.take(rows[lo:lo + BLOCK])
            firsts = self.take(first[codes[rows[lo:lo + BLOCK]]])
            if not bool((cells.lengths == firsts.lengths).all() and (cells.words() == firsts.words()).all()):
                return False
        return True

    def to_list(self) -> list[str]:
        if self.memo.strings is None:
            width = self.width()
            if width == 0:
                self.memo.strings = [""] * len(self)
            else:
                cells: list[bytes] = self.matrix(width).view(f"S{width}").ravel().tolist()
                self.memo.strings = list(map(bytes.decode, cells))
        return self.memo.strings

    def as_sequence(self) -> Sequence[str]:
        return ByteStrings(self)

    def numbers(self, blank_is_zero: bool = False) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        n = len(self)
        values, plain = np.empty(n, dtype=np.float64), np.empty(n, dtype=np.bool_)
        for part, cells in self.blocks():
            lengths = cells.lengths
            values[part], plain[part] = short_decimals(cell_words(self.buf, cells.starts, lengths, 1)[:, 0], lengths)
        span = self.after - self.before
        long = np.flatnonzero((span > 9) & (span <= 41))
        if len(long):
            longer = self.take(long)
            values[long], plain[long] = long_decimals(longer.matrix(longer.width()), longer.lengths)
        bad = np.zeros(n, dtype=np.bool_)
        rest = np.flatnonzero(~plain)
        if blank_is_zero and len(rest):
            rest = rest[~self.take(rest).blank()]  # blank reads as "0": value 0, not bad
        if len(rest):
            # The reference parser on the other cells alone gives what it gives on the whole column:
            # plain decimals parse the same in each of its branches.
            values[rest], bad[rest] = parse_numbers(self.take(rest).to_list())
        return values, bad

    def timestamps(self, tz: ZoneInfo, date_format: str | None) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        n = len(self)
        width = self.width()
        # (Cells of 10 bytes or more, as that branch wants; up to PAD bytes, as matrix() likes.)
        if date_format is None and n and int((self.after - self.before).min()) > 10 and width <= PAD:
            # parse_timestamps' NumPy branch, on the bytes: NumPy reads bytes and str cells with the
            # same ISO parser, so this succeeds, warns or fails exactly when that branch does (for
            # any cell: it makes no difference that it reads the cells a block at a time).
            utc = bool((self.buf[self.after - 1] == ord("Z")).all())
            seconds = np.empty(n, dtype=np.int64)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    for part, cells in self.blocks():
                        text = cells.matrix(width)
                        if utc:
                            text[np.arange(len(cells)), cells.lengths - 1] = 0
                        seconds[part] = text.view(f"S{width}").ravel().astype("datetime64[s]").view(np.int64)
                bad = seconds == np.iinfo(np.int64).min  # NaT
                seconds[bad] = 0
                return (seconds if utc else naive_local_to_utc(seconds, tz)), bad
            except (ValueError, UserWarning, DeprecationWarning):
                pass
        # Offsets, other formats: the reference parser, once per distinct cell.
        distinct, codes, _ = self.factorize()
        seconds, bad = parse_timestamps(distinct.to_list(), tz, date_format)
        return seconds[codes], bad[codes]


def _strip_end(buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64],
               rows: Codes, leading: bool) -> None:
    # `rows` have whitespace at this end; they are looked at again a byte at a time until none has.
    rows = rows[lengths[rows] > 0]
    while len(rows):
        if leading:
            starts[rows] += 1
        lengths[rows] -= 1
        rows = rows[lengths[rows] > 0]
        at = starts[rows] if leading else starts[rows] + lengths[rows] - 1
        rows = rows[_WHITESPACE[buf[at]]]


class ByteStrings(Sequence[str]):
    """A column's cells as a sequence of str, decoded when read (ids and emails of every order)."""

    def __init__(self, column: ByteColumn) -> None:
        self._column = column

    def __len__(self) -> int:
        return len(self._column)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> ByteStrings: ...

    def __getitem__(self, index: int | slice) -> str | ByteStrings:
        if isinstance(index, slice):
            return ByteStrings(self._column.take(np.arange(len(self), dtype=np.int64)[index]))
        start = int(self._column.before[index]) + 1
        end = int(self._column.after[index])
        return self._column.buf[start:end].tobytes().decode("ascii")

    def __iter__(self) -> Iterator[str]:
        step = 1 << 16
        for begin in range(0, len(self), step):
            yield from self._column.take(np.arange(begin, min(begin + step, len(self)), dtype=np.int64)).to_list()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self[:5])
        return f"ByteStrings([{head}{', ...' if len(self) > 5 else ''}], {len(self)} cells)"
