"""Reading order files: rows with their line numbers, vectorised column parsing, and rejects.

Every bad row is kept with its line number, column and reason; good rows always go through. Reasons
never quote the cell's value (it may be an email in a mis-mapped column): the rejects file keeps the
whole raw row for the user to fix.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import itertools
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.batch import MONEY_SCALE
from rfmsync.core.errors import InputError
from rfmsync.core.timezones import naive_local_to_utc

ISO_HINT = "YYYY-MM-DD, optionally with a time HH:MM[:SS] and an offset (Z, +01:00, -0500)"


@dataclass(frozen=True)
class Reject:
    line: int
    column: str | None
    reason: str
    raw: Sequence[str] = ()


@dataclass
class Table:
    """A CSV file's header and rows; `lines[i]` is the physical line row i starts on."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: NDArray[np.int64]
    rejects: list[Reject] = field(default_factory=list)

    def column_index(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            raise InputError(f"{self.path}: no column named {name!r}; columns are "
                             f"{', '.join(self.header)}") from None

    def column(self, name: str) -> list[str]:
        i = self.column_index(name)
        return [row[i] for row in self.rows]


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


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig drops the BOM spreadsheet programs write; gzip because real exports come compressed.
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_table(path: Path) -> Table:
    """All rows of a CSV file. Raises InputError when the file cannot be read as a table at all."""
    try:
        handle = _open_text(path)
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


def parse_numbers(values: list[str]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Floats and a mask of cells that are not finite plain numbers (blank, "12,50", "$3")."""
    try:
        # NumPy's C parser: one pass, no Python objects. It accepts "nan"/"inf", caught below.
        numbers = np.array(values, dtype=np.float64)
        bad = ~np.isfinite(numbers)
    except ValueError:
        numbers = np.empty(len(values), dtype=np.float64)
        bad = np.zeros(len(values), dtype=np.bool_)
        for i, value in enumerate(values):
            try:
                numbers[i] = float(value)
            except ValueError:
                numbers[i] = 0.0
                bad[i] = True
        bad |= ~np.isfinite(numbers)
    numbers[bad] = 0.0
    return numbers, bad


def to_money_units(amounts: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.rint(amounts * MONEY_SCALE).astype(np.int64)


def parse_timestamps(values: list[str], tz: ZoneInfo, date_format: str | None = None
                     ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """UTC seconds and a mask of unreadable cells.

    Times without an offset are wall-clock times in `tz`. The common cases (ISO without offsets, or
    all in UTC with a trailing Z) are parsed by NumPy in C; anything else goes through the per-value
    parser, once per distinct value.
    """
    n = len(values)
    if date_format is None and n and min(map(len, values)) >= 10:
        # Exports in UTC end every time with "Z". NumPy would read the Z only with a warning, which
        # sends the file to the per-value parser (~2.5 s per million rows instead of ~0.2 s), so drop
        # it and read the rest as UTC.
        utc = all(map(str.endswith, values, itertools.repeat("Z")))
        texts = [v[:-1] for v in values] if utc else values
        try:
            with warnings.catch_warnings():
                # NumPy only warns when it meets an offset, then applies it silently; we need to know.
                warnings.simplefilter("error")
                parsed = np.array(texts, dtype="datetime64[s]")
            bad = np.isnat(parsed)
            seconds = parsed.astype(np.int64)
            seconds[bad] = 0
            return (seconds if utc else naive_local_to_utc(seconds, tz)), bad
        except (ValueError, UserWarning, DeprecationWarning):
            pass
    return _parse_timestamps_slow(values, tz, date_format)


def _parse_timestamps_slow(values: list[str], tz: ZoneInfo, date_format: str | None
                           ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    cache: dict[str, tuple[int, bool] | None] = {}
    seconds = np.zeros(len(values), dtype=np.int64)
    aware = np.zeros(len(values), dtype=np.bool_)
    bad = np.zeros(len(values), dtype=np.bool_)
    for i, value in enumerate(values):
        if value not in cache:
            cache[value] = _parse_one(value, date_format)
        result = cache[value]
        if result is None:
            bad[i] = True
        else:
            seconds[i], aware[i] = result
    naive = ~aware & ~bad
    if naive.any():
        seconds[naive] = naive_local_to_utc(seconds[naive], tz)
    return seconds, bad


_EPOCH_NAIVE = datetime(1970, 1, 1)


def _parse_one(value: str, date_format: str | None) -> tuple[int, bool] | None:
    """(seconds, aware): UTC seconds when the text carries an offset, else naive wall-clock seconds."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.strptime(text, date_format) if date_format else datetime.fromisoformat(text)
    except ValueError:
        if date_format is not None:
            return None
        try:  # Shopify's admin exports: "2024-03-09 14:05:11 -0500"
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return None
    offset = moment.utcoffset()
    if offset is None:
        return int((moment - _EPOCH_NAIVE).total_seconds()), False
    return int(moment.timestamp()), True


class RejectCollector:
    """Marks rows bad with the first reason found; later checks skip rows already rejected."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.bad = np.zeros(len(table.rows), dtype=np.bool_)
        self.rejects = list(table.rejects)

    def add(self, mask: NDArray[np.bool_], column: str | None, reason: str) -> None:
        new = mask & ~self.bad
        for i in np.flatnonzero(new).tolist():
            self.rejects.append(Reject(int(self.table.lines[i]), column, reason, self.table.rows[i]))
        self.bad |= new

    @property
    def good(self) -> NDArray[np.bool_]:
        return ~self.bad


def blank_mask(values: list[str]) -> NDArray[np.bool_]:
    return np.fromiter((not v.strip() for v in values), dtype=np.bool_, count=len(values))
