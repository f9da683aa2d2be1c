"""Whole columns of cells parsed into numbers and UTC timestamps, with pyarrow's kernels.

Each parser tries the plain form of a whole column in one C pass (plain decimals; ISO 8601 dates)
and works out the export dialect only for columns that need it: decimal commas and thousands
separators, currency signs and codes, day-first or month-first dates. A cell that fits nothing is
marked bad (its row is rejected with a reason); a column whose dialect cannot be decided from its
cells raises an `InputError` asking for the option that decides it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from rfmsync.core.batch import MONEY_SCALE
from rfmsync.core.timezones import naive_local_to_utc

ISO_HINT = "YYYY-MM-DD, optionally with a time HH:MM[:SS] and an offset (Z, +01:00, -0500)"
# Amounts at or above this are rejected rows: no order is worth a trillion, and money is held in
# 1/10,000 units in int64 (docs/scoring.md).
MAX_AMOUNT = 1e12

_CURRENCY = r"(?:[A-Z]{3}|[$€£¥₹₽₩]|R\$|kr|zł|Fr\.?)"
_CURRENCY_AROUND = rf"^([+-]?)\s*{_CURRENCY}\s*|\s*{_CURRENCY}$"
_PLAIN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_DOT_FORM = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?$"
_COMMA_FORM = r"^[+-]?(\d{1,3}([. \x{a0}']\d{3})+|\d+)?(,\d+)?$"


class AmbiguousColumn(ValueError):
    """The cells of a column do not decide its dialect; the message says which option does."""


def _strings(values: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(values)


def parse_numbers(values: pa.Array, decimal: str | None = None) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Floats and a mask of cells that are not numbers. `decimal`: "." or ","; None decides per column."""
    text = _strings(values)
    if decimal in (None, "."):
        try:
            numbers = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False).copy()
            bad = ~np.isfinite(numbers)
            numbers[bad] = 0.0
            return numbers, bad
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    # The dialect work runs once per distinct cell (a shop's amounts repeat a lot), then is spread
    # back to the rows.
    encoded = pc.dictionary_encode(text)
    numbers, bad = _parse_dialect(encoded.dictionary, decimal)
    rows = encoded.indices.to_numpy(zero_copy_only=False)
    return numbers[rows], bad[rows]


def _parse_dialect(text: pa.Array, decimal: str | None) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    core = pc.replace_substring_regex(text, _CURRENCY_AROUND, r"\1")
    if decimal is None:
        decimal = _decide_decimal(core)
    if decimal == ",":
        ok = pc.match_substring_regex(core, _COMMA_FORM)
        normal = pc.replace_substring(pc.replace_substring_regex(core, r"[. \x{a0}']", ""), ",", ".")
    else:
        ok = pc.match_substring_regex(core, _DOT_FORM)
        normal = pc.replace_substring(core, ",", "")
    ok = pc.and_(ok, pc.match_substring_regex(normal, r"\d"))
    numbers = np.zeros(len(text), dtype=np.float64)
    good = ok.to_numpy(zero_copy_only=False)
    if good.any():
        numbers[good] = pc.cast(pc.filter(normal, ok), pa.float64()).to_numpy(zero_copy_only=False)
    bad = ~good | ~np.isfinite(numbers)
    numbers[bad] = 0.0
    return numbers, bad


def _decide_decimal(core: pa.Array) -> str:
    def count(pattern: str) -> int:
        return int(pc.sum(pc.match_substring_regex(core, pattern).cast(pa.int64())).as_py() or 0)
    # "12,50", "1.234,50": the comma is the decimal mark; "12.50", "1,234.50", "1,234,567": the dot.
    comma = count(r"^[+-]?[\d. \x{a0}']*,(\d{1,2}|\d{4,})$") + count(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$")
    dot = count(r"^[+-]?[\d,]*\.\d+$") + count(r"^[+-]?\d{1,3}(,\d{3}){2,}$")
    if comma and dot:
        return "," if comma > dot else "."  # the minority's cells are then bad rows
    if comma:
        return ","
    if not dot and count(r"^[+-]?\d{1,3},\d{3}$"):
        raise AmbiguousColumn("numbers like 1,234 could be 1234 or 1.234; set --decimal . or --decimal ,")
    return "."


def to_money_units(amounts: NDArray[np.float64]) -> NDArray[np.int64]:
    """Exact 1/10,000 units; amounts out of range (rejected rows by then) become 0, never an overflow."""
    with np.errstate(invalid="ignore"):
        in_range = np.abs(amounts) < MAX_AMOUNT
    scaled = np.where(in_range, amounts, 0.0) * MONEY_SCALE
    np.rint(scaled, out=scaled)  # in place: one temporary less on a million rows
    return scaled.astype(np.int64)


def parse_timestamps(values: pa.Array, tz: ZoneInfo, date_format: str | None = None
                     ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """UTC seconds and a mask of unreadable cells. Times without an offset are wall-clock times in `tz`.

    ISO 8601 (with or without offset), Shopify's "2024-03-09 14:05:11 -0500", compact 19970101,
    DD.MM.YYYY, and DD/MM/YYYY or MM/DD/YYYY decided from the whole column (a first field above
    12 means day-first, a second field above 12 month-first)."""
    text = _strings(values)
    n = len(text)
    seconds = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    if date_format is not None:
        _strptime(text, date_format, seconds, done, tz)
        return seconds, ~done
    for utc in (True, False):  # a whole column in one form, the usual export: one cast
        try:
            cast = pc.cast(text, pa.timestamp("us", tz="UTC") if utc else pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        _store(cast, np.arange(n, dtype=np.int64), seconds, done, tz, aware=utc)
        return seconds, ~done
    aware = pc.match_substring_regex(text, r"(Z|[+-]\d\d:?\d\d)$")
    for mask, utc in ((pc.invert(aware), False), (aware, True)):
        _cast_iso(text, mask.to_numpy(zero_copy_only=False) & ~done, utc, seconds, done, tz)
    if not done.all():
        _strptime(text, "%Y-%m-%d %H:%M:%S %z", seconds, done, tz, only=~done)
        _strptime(text, "%Y%m%d", seconds, done, tz, only=~done & _matches(text, r"^\d{8}$"))
    if not done.all():
        _numeric_dates(text, seconds, done, tz)
    if not done.all():
        _python_fallback(text, seconds, done, tz)
    return seconds, ~done


def _matches(text: pa.Array, pattern: str) -> NDArray[np.bool_]:
    result: NDArray[np.bool_] = pc.match_substring_regex(text, pattern).to_numpy(zero_copy_only=False)
    return result


def _cast_iso(text: pa.Array, rows: NDArray[np.bool_], utc: bool, seconds: NDArray[np.int64],
              done: NDArray[np.bool_], tz: ZoneInfo) -> None:
    # The kernel refuses a whole array for one bad cell: cells are pre-checked by shape, and a
    # rare failure (a 31st of February) falls through to the per-value parser.
    shape = r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?" + (r"(Z|[+-]\d\d:?\d\d)$" if utc else "$")
    rows = rows & _matches(text, shape)
    if not rows.any():
        return
    index = np.flatnonzero(rows)
    subset = text.take(pa.array(index))
    try:
        cast = pc.cast(subset, pa.timestamp("us", tz="UTC") if utc else pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return
    _store(cast, index, seconds, done, tz, aware=utc)


def _store(parsed: pa.Array, index: NDArray[np.int64], seconds: NDArray[np.int64], done: NDArray[np.bool_],
           tz: ZoneInfo, *, aware: bool) -> None:
    ok = ~np.asarray(pc.is_null(parsed).to_numpy(zero_copy_only=False), dtype=np.bool_)
    micros = pc.cast(parsed, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    values = np.floor_divide(micros, 1_000_000)
    index, values = index[ok], values[ok]
    seconds[index] = values if aware else naive_local_to_utc(values, tz)
    done[index] = True


def _strptime(text: pa.Array, fmt: str, seconds: NDArray[np.int64], done: NDArray[np.bool_], tz: ZoneInfo,
              only: NDArray[np.bool_] | None = None) -> None:
    index = np.flatnonzero(only) if only is not None else np.arange(len(text), dtype=np.int64)
    if not len(index):
        return
    try:
        parsed = pc.strptime(text.take(pa.array(index)), format=fmt, unit="us", error_is_null=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _python_fallback(text, seconds, done, tz, fmt, only=only)
    _store(parsed, index, seconds, done, tz, aware="%z" in fmt)


_NUMERIC_DATE = r"^(\d{1,2})([./-])(\d{1,2})[./-](\d{4})"
_TIMES = (("", "$"), (" %H:%M", r" \d{1,2}:\d\d$"), (" %H:%M:%S", r" \d{1,2}:\d\d:\d\d$"),
          (" %I:%M %p", r" \d{1,2}:\d\d ?[AaPp][Mm]$"), (" %I:%M:%S %p", r" \d{1,2}:\d\d:\d\d ?[AaPp][Mm]$"))


def _numeric_dates(text: pa.Array, seconds: NDArray[np.int64], done: NDArray[np.bool_], tz: ZoneInfo) -> None:
    rows = ~done & _matches(text, _NUMERIC_DATE)
    if not rows.any():
        return
    subset = text.filter(pa.array(rows))
    parts = pc.extract_regex(subset, r"^(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})")
    first = pc.cast(pc.struct_field(parts, "a"), pa.int32()).to_numpy(zero_copy_only=False)
    second = pc.cast(pc.struct_field(parts, "b"), pa.int32()).to_numpy(zero_copy_only=False)
    dots = bool(pc.any(pc.equal(pc.struct_field(parts, "sep"), ".")).as_py())
    if dots or (first > 12).any():
        order = "%d{sep}%m"
    elif (second > 12).any():
        order = "%m{sep}%d"
    elif rows.sum() * 2 > (~done).sum() + done.sum():
        raise AmbiguousColumn("dates like 03/04/2025 could be day-first or month-first and no date in the "
                              "column decides it; set --date-format '%d/%m/%Y' or '%m/%d/%Y'")
    else:
        return  # a few odd cells among other dates: rejected rows, the file stays readable
    for sep in "./-":
        with_sep = rows & _matches(text, rf"^\d{{1,2}}{_re_escape(sep)}")
        for time_fmt, time_shape in _TIMES:
            only = with_sep & ~done & _matches(text, _NUMERIC_DATE + time_shape)
            if only.any():
                fmt = order.format(sep=sep) + f"{sep}%Y" + time_fmt
                _strptime(text, fmt, seconds, done, tz, only=only)


def _re_escape(char: str) -> str:
    return "\\" + char if char in ".-" else char


_EPOCH_NAIVE = datetime(1970, 1, 1)


def _python_fallback(text: pa.Array, seconds: NDArray[np.int64], done: NDArray[np.bool_], tz: ZoneInfo,
                     fmt: str | None = None, only: NDArray[np.bool_] | None = None) -> None:
    """The per-value parser for what the kernels left: once per distinct cell, which is few."""
    rows = ~done if only is None else only & ~done
    index = np.flatnonzero(rows)
    if not len(index):
        return
    cells = text.take(pa.array(index)).to_pylist()
    cache: dict[str, tuple[int, bool] | None] = {}
    naive_rows: list[int] = []
    naive_values: list[int] = []
    for row, cell in zip(index.tolist(), cells, strict=True):
        if cell not in cache:
            cache[cell] = _parse_one(cell, fmt)
        parsed = cache[cell]
        if parsed is None:
            continue
        if parsed[1]:
            seconds[row] = parsed[0]
        else:
            naive_rows.append(row)
            naive_values.append(parsed[0])
        done[row] = True
    if naive_rows:
        seconds[naive_rows] = naive_local_to_utc(np.asarray(naive_values, dtype=np.int64), tz)


def _parse_one(text: str, date_format: str | None) -> tuple[int, bool] | None:
    """(seconds, aware): UTC seconds when the text carries an offset, else naive wall-clock seconds."""
    if not text:
        return None
    try:
        moment = datetime.strptime(text, date_format) if date_format else datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    offset = moment.utcoffset()
    try:
        if offset is None:
            return int((moment - _EPOCH_NAIVE).total_seconds()), False
        return int(moment.timestamp()), True
    except (OverflowError, OSError, ValueError):
        return None


def blank_mask(values: pa.Array) -> NDArray[np.bool_]:
    result: NDArray[np.bool_] = pc.binary_length(_strings(values)).to_numpy(zero_copy_only=False) == 0
    return result
