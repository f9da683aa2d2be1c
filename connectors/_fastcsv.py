"""The fast way to read an order file: its bytes split with NumPy, then only the needed columns.

Taken when splitting at commas and newlines is all the csv module would do with the file: no double
quote anywhere (so no quoted field), no NUL byte, lines ending in "\\n" or "\\r\\n" (never a lone
"\\r", which csv also takes for a line end), and every line either blank or with exactly the header's
number of fields. Any other file goes to `_csvfile.read_table`; both give the same header, rows,
physical line numbers and cells (tests/connectors/test_connectors_fast_csv.py checks this on many
files). A million-row file takes ~0.15 s here instead of ~1.4 s there, and the columns come out as
`ByteColumn`s that parse in C instead of lists of a million strings.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._bytecol import PAD, ByteColumn, Positions
from rfmsync.connectors._columns import StrColumn, TextColumn
from rfmsync.connectors._csvfile import Reject, TableLike, _check_header, column_index, read_table
from rfmsync.connectors._csvsplit import split_rows

_HEAD = 1 << 20  # bytes read first, to see a quoted file before reading all of it
_QUOTED = "a double quote (quoted fields)"


@dataclass
class ReadStats:
    """Which path reads took (tests assert on it); `last_slow_reason` says why the last slow one was."""

    fast: int = 0
    slow: int = 0
    last_slow_reason: str = ""


STATS = ReadStats()


def load_table(path: Path) -> TableLike:
    """The file's table, read the fast way when the file allows it, else with the csv module."""
    table = read_fast_table(path)
    if isinstance(table, FastTable):
        STATS.fast += 1
        return table
    STATS.slow += 1
    STATS.last_slow_reason = table.reason
    return read_table(path, table.content)


@dataclass(frozen=True)
class Unsuitable:
    """Why a file needs the csv module, and its bytes when worth passing on: a .gz file's, valid
    UTF-8 (so the csv module's reading, errors included, is as from the file), not decompressed twice."""

    reason: str
    content: bytes | None = None


@dataclass
class FastTable:
    """The same table as `_csvfile.Table`, held as the file's bytes and separator positions."""

    path: Path
    header: list[str]
    buf: NDArray[np.uint8]  # the file, PAD zero bytes after its end
    row_before: Positions  # the newline before each row (the header's, for the first row)
    ends: Positions  # (fields, rows): the comma or newline ending each field
    line_numbers: NDArray[np.int64] | None  # None: no blank lines, row i is on line i + 2
    is_ascii: bool
    rejects: list[Reject] = field(default_factory=list)  # always empty: short rows take the slow path

    @property
    def n_rows(self) -> int:
        return len(self.row_before)

    @property
    def lines(self) -> NDArray[np.int64]:
        if self.line_numbers is None:
            return np.arange(2, self.n_rows + 2, dtype=np.int64)
        return self.line_numbers

    def column_index(self, name: str) -> int:
        return column_index(self.path, self.header, name)

    def column(self, name: str) -> list[str]:
        return self.text_column(name).to_list()

    def text_column(self, name: str) -> TextColumn:
        j = self.column_index(name)
        # The column is the table's own separator arrays: nothing is copied.
        column = ByteColumn(self.buf, self.row_before if j == 0 else self.ends[j - 1], self.ends[j])
        if self.is_ascii or column.is_ascii():
            return column
        # Non-ASCII text: str semantics (Unicode whitespace, case) need real strings.
        buf = self.buf
        return StrColumn([buf[s:s + n].tobytes().decode("utf-8")
                          for s, n in zip(column.starts.tolist(), column.lengths.tolist(), strict=True)])

    def rows_at(self, index: NDArray[np.int64]) -> list[list[str]]:
        buf = self.buf
        return [buf[s:e].tobytes().decode("utf-8").split(",")
                for s, e in zip((self.row_before[index] + 1).tolist(), self.ends[-1, index].tolist(), strict=True)]

    def subset(self, index: NDArray[np.int64]) -> FastTable:
        return FastTable(self.path, self.header, self.buf, self.row_before[index], self.ends[:, index],
                         self.lines[index], self.is_ascii, self.rejects)


def read_fast_table(path: Path) -> FastTable | Unsuitable:
    """The table, or why the file needs the csv module. Raises InputError as read_table would."""
    loaded = _read_padded(path)
    if isinstance(loaded, str):
        return Unsuitable(loaded)
    buf, size, decompressed = loaded
    table = _parse(path, buf, size)
    if isinstance(table, FastTable):
        return table
    if decompressed is not None and not decompressed.isascii():
        try:
            decompressed.decode("utf-8")
        except UnicodeDecodeError:
            decompressed = None
    return Unsuitable(table, decompressed)


def _parse(path: Path, buf: bytearray, size: int) -> FastTable | str:
    begin = 0
    if buf.startswith(b"\xef\xbb\xbf"):  # the BOM utf-8-sig drops; blanked so isascii() sees the rest
        buf[0:3] = b"   "
        begin = 3
    if buf.find(b'"', begin, size) >= 0:
        return _QUOTED
    if buf.find(b"\0", begin, size) >= 0:
        return "a NUL byte"
    if buf.find(b"\r", begin, size) >= 0:
        if buf.count(b"\r", begin, size) != buf.count(b"\r\n", begin, size):
            return "a carriage return that does not end a line"
        # Windows line ends: one line each either way, so line numbers are unchanged.
        text = bytes(memoryview(buf)[begin:size]).replace(b"\r\n", b"\n")
        buf, begin, size = bytearray(len(text) + PAD), 0, len(text)
        buf[:size] = text
    is_ascii = buf.isascii()
    if not is_ascii:
        try:
            codecs.decode(memoryview(buf)[begin:size], "utf-8")
        except UnicodeDecodeError:
            return "not UTF-8"
    if size == begin:
        return "an empty file"
    if buf[size - 1] != ord("\n"):
        buf[size] = ord("\n")  # the last line ends at the end of the file (PAD leaves room)
        size += 1
    return _split(path, buf, begin, size, is_ascii)


def _split(path: Path, buf: bytearray, begin: int, size: int, is_ascii: bool) -> FastTable | str:
    header_end = buf.find(b"\n", begin, size)  # there is one: the file ends with a newline
    if header_end - begin > csv.field_size_limit():
        return "a line longer than the csv field size limit"
    header = [h.strip() for h in bytes(buf[begin:header_end]).decode("utf-8").split(",")]
    if not any(header):
        return "no header"
    _check_header(path, header)
    if len(header) < 2:
        return "a single column"
    if header_end + 1 == size:
        return "no rows"
    split = split_rows(buf, header_end + 1, size, len(header))
    if isinstance(split, str):
        return split
    return FastTable(path, header, np.frombuffer(buf, dtype=np.uint8), split.row_before, split.ends, split.lines,
                     is_ascii)


def _read_padded(path: Path) -> tuple[bytearray, int, bytes | None] | str:
    """The file's bytes with PAD zero bytes after them, its size, and for a .gz file the bytes as
    decompressed; a reason when unreadable (the csv path then reports the error in its words)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                head = handle.read(_HEAD)
                if b'"' in head:  # most quoted files show it early: no need to decompress it all
                    return _QUOTED
                data = head + handle.read()
            buf = bytearray(len(data) + PAD)
            buf[:len(data)] = data
            return buf, len(data), data
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            buf = bytearray(size + PAD)
            view = memoryview(buf)
            got = handle.readinto(view[:min(size, _HEAD)]) or 0
            if buf.find(b'"', 0, got) >= 0:
                return _QUOTED
            while got < size:
                n = handle.readinto(view[got:size])
                if not n:
                    break
                got += n
            view.release()
            if got != size or handle.read(1):
                return "the file changed while being read"
            return buf, size, None
    except (OSError, EOFError, zlib.error) as exc:
        return f"cannot read ({exc})"
