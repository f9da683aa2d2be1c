"""Reading order files with the csv module, the table interface both readers share, and rejects.

`read_table` is the general path (quoted fields, ragged rows, any line ends) and the reference the
fast path (`_fastcsv`) is tested against; `load_table` there picks one. Every bad row is kept with
its line number, column and reason; good rows always go through. Reasons never quote the cell's
value (it may be an email in a mis-mapped column): the rejects file keeps the whole raw row for the
user to fix.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._columns import StrColumn, TextColumn

# The string parsers lived here; kept importable from here.
from rfmsync.connectors._textparse import ISO_HINT, blank_mask, parse_numbers, parse_timestamps, to_money_units
from rfmsync.core.errors import InputError

__all__ = ["ISO_HINT", "Reject", "RejectCollector", "Table", "TableLike", "blank_mask", "parse_numbers",
           "parse_timestamps", "read_table", "to_money_units"]


@dataclass(frozen=True)
class Reject:
    line: int
    column: str | None
    reason: str
    raw: Sequence[str] = ()


class TableLike(Protocol):
    """What the readers need of a read file; `Table` (csv module) and `_fastcsv.FastTable` have it."""

    path: Path
    header: list[str]
    rejects: list[Reject]  # rows set aside while reading (wrong number of fields)

    @property
    def lines(self) -> NDArray[np.int64]:
        """The physical line each row is on."""
        ...

    @property
    def n_rows(self) -> int: ...

    def text_column(self, name: str) -> TextColumn: ...

    def rows_at(self, index: NDArray[np.int64]) -> list[list[str]]:
        """The rows at `index` as the csv module splits them, for the rejects file."""
        ...

    def subset(self, index: NDArray[np.int64]) -> TableLike:
        """The rows at `index` only; rejects are kept."""
        ...


def column_index(path: Path, header: list[str], name: str) -> int:
    try:
        return header.index(name)
    except ValueError:
        raise InputError(f"{path}: no column named {name!r}; columns are {', '.join(header)}") from None


@dataclass
class Table:
    """A CSV file's header and rows; `lines[i]` is the physical line row i starts on."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: NDArray[np.int64]
    rejects: list[Reject] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def column_index(self, name: str) -> int:
        return column_index(self.path, self.header, name)

    def column(self, name: str) -> list[str]:
        i = self.column_index(name)
        return [row[i] for row in self.rows]

    def text_column(self, name: str) -> TextColumn:
        return StrColumn(self.column(name))

    def rows_at(self, index: NDArray[np.int64]) -> list[list[str]]:
        rows = self.rows
        return [rows[i] for i in index.tolist()]

    def subset(self, index: NDArray[np.int64]) -> Table:
        return Table(self.path, self.header, self.rows_at(index), self.lines[index], self.rejects)


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Building a million small lists triggers the cyclic collector hundreds of times for nothing
    # (rows hold only strings): pausing it makes reading ~4x faster.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _open_text(path: Path, content: bytes | None = None) -> IO[str]:
    # utf-8-sig drops the BOM spreadsheet programs write; gzip because real exports come compressed.
    if content is not None:
        return io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_table(path: Path, content: bytes | None = None) -> Table:
    """All rows of a CSV file. Raises InputError when the file cannot be read as a table at all.

    `content`: the file's bytes (decompressed), valid UTF-8, when the caller has them already.
    """
    try:
        handle = _open_text(path, content)
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from None
    rows: list[list[str]] = []
    lines: list[int] = []
    rejects: list[Reject] = []
    try:
        with handle, _gc_paused():
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputError(f"{path}: the file is empty; expected a header line and order rows")
            header = [h.strip() for h in header]
            _check_header(path, header)
            width = len(header)
            append_row, append_line = rows.append, lines.append
            for row in reader:
                if len(row) == width:
                    append_row(row)
                    append_line(reader.line_num)
                elif not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                else:
                    rejects.append(Reject(reader.line_num, None,
                                          f"expected {width} fields as in the header, found {len(row)}", row))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text near byte {exc.start}; save the file as UTF-8 CSV") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:  # gzip errors, truncated files
        raise InputError(f"{path}: cannot read ({exc})") from None
    return Table(path, header, rows, np.asarray(lines, dtype=np.int64), rejects)


def _check_header(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"{path}: line 1, column {position} has an empty header name")
        if name in seen:
            raise InputError(f"{path}: line 1 names column {name!r} twice (columns {seen[name]} and "
                             f"{position}); each column needs a unique header")
        seen[name] = position


class RejectCollector:
    """Marks rows bad with the first reason found; later checks skip rows already rejected."""

    def __init__(self, table: TableLike) -> None:
        self.table = table
        self.bad = np.zeros(table.n_rows, dtype=np.bool_)
        self.rejects = list(table.rejects)

    def add(self, mask: NDArray[np.bool_], column: str | None, reason: str) -> None:
        new = np.flatnonzero(mask & ~self.bad)
        if len(new):
            rows = self.table.rows_at(new)
            self.rejects.extend(Reject(line, column, reason, row)
                                for line, row in zip(self.table.lines[new].tolist(), rows, strict=True))
            self.bad[new] = True

    @property
    def good(self) -> NDArray[np.bool_]:
        return ~self.bad

