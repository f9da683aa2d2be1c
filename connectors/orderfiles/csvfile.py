"""An order file read as a table by pyarrow's CSV reader, and the rejects of its rows.

pyarrow (multi-threaded C++) splits the file and holds every column as strings; the readers parse
the columns they need. pyarrow cannot say on which physical line a row stood, so the csv module
reads the file once more only when a message needs line numbers that the plain layout cannot give
(quoted fields, blank lines, rows with the wrong number of fields). Every bad row is kept with its
line number, column and reason; good rows always go through. Reasons never quote the cell's value
(it may be an email in a mis-mapped column): the rejects file keeps the whole raw row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.columns import ArrowColumn, TextColumn
from rfmsync.connectors.orderfiles.decode import Decoded, decode, read_bytes
from rfmsync.connectors.orderfiles.textparse import ISO_HINT, to_money_units
from rfmsync.core.errors import InputError

__all__ = ["ISO_HINT", "ArrowTable", "Reject", "RejectCollector", "TableLike", "load_table", "to_money_units"]


@dataclass(frozen=True)
class Reject:
    line: int
    column: str | None
    reason: str
    raw: Sequence[str] = ()


class TableLike(Protocol):
    path: Path
    header: list[str]
    rejects: list[Reject]  # rows set aside while reading (wrong number of fields)
    warnings: list[str]  # said to the user once (the encoding used)

    @property
    def lines(self) -> NDArray[np.int64]:
        """The physical line each row is on."""
        ...

    @property
    def n_rows(self) -> int: ...

    def text_column(self, name: str) -> TextColumn: ...

    def rows_at(self, index: NDArray[np.int64]) -> list[list[str]]:
        """The rows at `index` as lists of cells, for the rejects file."""
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
class ArrowTable:
    path: Path
    header: list[str]
    columns: list[pa.Array | pa.ChunkedArray]
    line_numbers: NDArray[np.int64] | None  # None: row i is on line i + 2
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Set when line numbers need the csv module's reading, which runs only if a message needs them.
    decoded: Decoded | None = None

    @property
    def n_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @property
    def lines(self) -> NDArray[np.int64]:
        if self.decoded is not None:
            _line_numbers(self, self.decoded)
            self.decoded = None
        if self.line_numbers is None:
            return np.arange(2, self.n_rows + 2, dtype=np.int64)
        return self.line_numbers

    def text_column(self, name: str) -> TextColumn:
        j = column_index(self.path, self.header, name)
        if isinstance(self.columns[j], pa.ChunkedArray):  # combined once, when a reader first needs it
            self.columns[j] = self.columns[j].combine_chunks()
        return ArrowColumn(self.columns[j])

    def rows_at(self, index: NDArray[np.int64]) -> list[list[str]]:
        taken = pa.array(index, type=pa.int64())
        cells = [column.take(taken).to_pylist() for column in self.columns]
        return [list(row) for row in zip(*cells, strict=True)]

    def subset(self, index: NDArray[np.int64]) -> ArrowTable:
        lines = self.lines[index]
        taken = pa.array(index, type=pa.int64())
        return ArrowTable(self.path, self.header, [c.take(taken) for c in self.columns], lines,
                          self.rejects, self.warnings)


def load_table(path: Path, encoding: str | None = None, delimiter: str | None = None) -> ArrowTable:
    """The file's table. Raises InputError when it cannot be read as a table at all."""
    decoded = decode(path, read_bytes(path), encoding, delimiter)
    header = _header(path, decoded)
    skipped: list[int] = []

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        skipped.append(row.actual_columns)  # blank-looking lines too: they shift line numbers
        return "skip"

    quoted = b'"' in decoded.data
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(decoded.data),  # zero-copy: a BytesIO would be read through Python calls
            read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(delimiter=decoded.delimiter, newlines_in_values=quoted,
                                              invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: not a readable CSV file ({_arrow_reason(exc)})") from None
    result = ArrowTable(path, header, [table.column(i) for i in range(len(header))], None, warnings=decoded.warnings)
    blank_lines = b"\n\n" in decoded.data or b"\n\r\n" in decoded.data
    if skipped:  # rows with the wrong number of fields: their rejects need lines now
        _line_numbers(result, decoded)
    elif quoted or blank_lines or decoded.data.startswith((b"\n", b"\r")):
        result.decoded = decoded
    return result


def _arrow_reason(exc: pa.ArrowInvalid) -> str:
    # pyarrow's message can quote a row (which may hold an email): keep only its first clause.
    return str(exc).split(":", 1)[0][:120]


def _header(path: Path, decoded: Decoded) -> list[str]:
    reader = csv.reader(io.StringIO(decoded.data[:1 << 16].decode("utf-8", errors="replace"), newline=""),
                        delimiter=decoded.delimiter)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"{path}: the header line is not readable CSV ({exc})") from None
    if first is None or not any(h.strip() for h in first):
        raise InputError(f"{path}: the file is empty; expected a header line and order rows")
    header = [h.strip() for h in first]
    check_header(path, header)
    return header


def check_header(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"{path}: line 1, column {position} has an empty header name")
        if name in seen:
            raise InputError(f"{path}: line 1 names column {name!r} twice (columns {seen[name]} and "
                             f"{position}); each column needs a unique header")
        seen[name] = position
    values = sum(_looks_like_a_value(name) for name in header)
    if any("@" in name for name in header) or values * 2 > len(header):
        raise InputError(f"{path}: the first line holds {len(header)} columns of values (numbers, dates or "
                         "emails), not column names; add a header line naming the columns")


def _looks_like_a_value(name: str) -> bool:
    text = name.replace(",", ".").lstrip("+-$€£")
    try:
        float(text)
        return True
    except ValueError:
        return any(name[:4].isdigit() and c in name for c in "-/.") or (name[:2].isdigit() and "/" in name)


def _line_numbers(table: ArrowTable, decoded: Decoded) -> None:
    """Where each row stood, and the rows pyarrow set aside, from the csv module's reading."""
    lines, rejects, _ = _csv_module_rows(table, decoded, keep_rows=False)
    if len(lines) != table.n_rows:
        # The two readers split the file differently (stray quotes): the csv module's reading is
        # the one whose lines the user can find. Before any column is parsed the table is rebuilt
        # from it; afterwards (line numbers asked for a message) that would change rows under the
        # reader, so the file is refused instead.
        if table.decoded is not None:
            raise InputError(f"{table.path}: rows cannot be told apart reliably (unbalanced quotes?); "
                             "check the file's quoting")
        lines, rejects, rows = _csv_module_rows(table, decoded, keep_rows=True)
        table.columns = [pa.array([r[j] for r in rows], type=pa.string()) for j in range(len(table.header))]
    table.line_numbers = np.asarray(lines, dtype=np.int64)
    table.rejects = rejects


def _csv_module_rows(table: ArrowTable, decoded: Decoded, *, keep_rows: bool
                     ) -> tuple[list[int], list[Reject], list[list[str]]]:
    """(line of each good row, rows with the wrong number of fields, the good rows if asked for)."""
    width = len(table.header)
    lines: list[int] = []
    rejects: list[Reject] = []
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(decoded.data.decode("utf-8"), newline=""), delimiter=decoded.delimiter)
    try:
        next(reader, None)
        for row in reader:
            if len(row) == width:
                lines.append(reader.line_num)
                if keep_rows:
                    rows.append(row)
            elif row and not (len(row) == 1 and not row[0].strip()):  # blank lines are skipped
                rejects.append(Reject(reader.line_num, None,
                                      f"expected {width} fields as in the header, found {len(row)}", row))
    except csv.Error as exc:
        raise InputError(f"{table.path}: not a readable CSV file near line {reader.line_num} ({exc})") from None
    return lines, rejects, rows


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
