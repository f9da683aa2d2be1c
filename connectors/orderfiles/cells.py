"""A table's columns parsed as amounts and dates, with the file and column named in errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.csvfile import TableLike
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.textparse import MAX_AMOUNT, AmbiguousColumn
from rfmsync.core.errors import InputError

NOT_A_NUMBER = "amount is not a number (nor in the column's decimal format, see --decimal)"
OUT_OF_RANGE = f"amount out of range (at most {MAX_AMOUNT:,.0f} in absolute value)"


def amounts_of(table: TableLike, column: str, decimal: str | None, blank_is_zero: bool = False
               ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    try:
        return table.text_column(column).numbers(blank_is_zero=blank_is_zero, decimal=decimal)
    except AmbiguousColumn as exc:
        raise InputError(f"{table.path}: column {column!r}: {exc}") from None


def dates_of(table: TableLike, column: str, options: ReadOptions) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    try:
        return table.text_column(column).timestamps(options.tz, options.date_format)
    except AmbiguousColumn as exc:
        raise InputError(f"{table.path}: column {column!r}: {exc}") from None


def out_of_range(amounts: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Amounts no shop takes (1e308, more than 12 integer digits), and infinities from products."""
    with np.errstate(invalid="ignore"):
        result: NDArray[np.bool_] = ~(np.abs(amounts) < MAX_AMOUNT)
    return result
