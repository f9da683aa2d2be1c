"""Order files in any CSV layout, given a column mapping, and per-customer summary files.

`--map customer=CustomerID,date=InvoiceDate,amount=Quantity*UnitPrice,order=InvoiceNo`: rows with
the same order id are summed into one order, so line-level files (one row per item) work as they
are. `amount` may be one column or the product of two (quantity times unit price).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from rfmsync.connectors._csvfile import (
    ISO_HINT,
    Reject,
    RejectCollector,
    Table,
    blank_mask,
    parse_numbers,
    parse_timestamps,
    read_table,
    to_money_units,
)
from rfmsync.connectors.order_lines import (
    OrdersRead,
    ParsedRows,
    apply_currency,
    group_orders,
    status_codes,
)
from rfmsync.connectors.read_options import ReadOptions
from rfmsync.connectors.shopify_export import is_shopify_export, read_shopify_export
from rfmsync.core.aggregate import CustomerMetrics, metrics_from_summary
from rfmsync.core.batch import factorize
from rfmsync.core.errors import InputError
from rfmsync.core.timezones import local_days

ORDER_FIELDS = ("customer", "date", "amount", "order", "email", "status", "currency")
SUMMARY_FIELDS = ("customer", "last_order", "frequency", "monetary", "email")
REQUIRED_ORDER_FIELDS = ("customer", "date", "amount")
REQUIRED_SUMMARY_FIELDS = ("customer", "last_order", "frequency", "monetary")

# Header names recognised without --map, lower-cased, for each field in order of preference.
AUTO_NAMES: dict[str, tuple[str, ...]] = {
    "customer": ("customer_id", "customerid", "customer", "client_id", "user_id"),
    "date": ("created_at", "order_date", "invoicedate", "date", "created", "timestamp"),
    "amount": ("amount", "net_amount", "total", "order_total", "total_price", "revenue"),
    "order": ("order_id", "orderid", "invoiceno", "invoice", "order_number", "order"),
    "email": ("email", "customer_email", "email_address"),
    "status": ("status", "order_status", "financial_status"),
    "currency": ("currency", "currency_code"),
}


@dataclass(frozen=True)
class ColumnMap:
    """Which header names hold which field. `amount` may be `("Quantity", "UnitPrice")`."""

    fields: dict[str, tuple[str, ...]]

    @property
    def is_summary(self) -> bool:
        return "last_order" in self.fields

    def get(self, name: str) -> tuple[str, ...] | None:
        return self.fields.get(name)


def parse_column_map(text: str) -> ColumnMap:
    """`customer=Col,date=Col,amount=Col[*Col],...`; errors say which part is wrong."""
    fields: dict[str, tuple[str, ...]] = {}
    allowed = sorted(set(ORDER_FIELDS) | set(SUMMARY_FIELDS))
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not value.strip():
            raise InputError(f"--map: {part!r} should be FIELD=COLUMN, e.g. customer=CustomerID")
        if key not in allowed:
            raise InputError(f"--map: unknown field {key!r}; fields are {', '.join(allowed)}")
        columns = tuple(c.strip() for c in value.split("*"))
        if (len(columns) > 1 and key not in ("amount", "monetary")) or len(columns) > 2 or not all(columns):
            raise InputError(f"--map: {part!r}: only amount may be a product of two columns (amount=Qty*Price)")
        fields[key] = columns
    return ColumnMap(fields)


def detect_column_map(header: list[str], path: Path) -> ColumnMap:
    lowered = {h.lower().replace(" ", "_"): h for h in header}
    fields: dict[str, tuple[str, ...]] = {}
    for name, candidates in AUTO_NAMES.items():
        for candidate in candidates:
            if candidate in lowered:
                fields[name] = (lowered[candidate],)
                break
    missing = [f for f in REQUIRED_ORDER_FIELDS if f not in fields]
    if missing:
        raise InputError(f"{path}: cannot tell which column holds {' and '.join(missing)}; columns are "
                         f"{', '.join(header)}. Name them with --map, e.g. "
                         "--map customer=CustomerID,date=InvoiceDate,amount=Total,order=InvoiceNo")
    return ColumnMap(fields)


def _check_columns(table: Table, colmap: ColumnMap, required: tuple[str, ...]) -> None:
    missing_fields = [f for f in required if f not in colmap.fields]
    if missing_fields:
        raise InputError(f"--map: {' and '.join(missing_fields)} must be mapped for this file")
    for field_name, columns in colmap.fields.items():
        for column in columns:
            if column not in table.header:
                raise InputError(f"{table.path}: --map {field_name}={column}: no such column; columns are "
                                 f"{', '.join(table.header)}")


def read_orders_file(path: Path, colmap: ColumnMap | None, options: ReadOptions) -> OrdersRead:
    """Orders from a Shopify export (detected from its header) or a mapped generic CSV."""
    table = read_table(path)
    if colmap is None and is_shopify_export(table.header):
        return read_shopify_export(table, options)
    colmap = colmap or detect_column_map(table.header, path)
    if colmap.is_summary:
        raise InputError(f"{path}: this mapping describes a customer summary; use read_summary_file")
    _check_columns(table, colmap, REQUIRED_ORDER_FIELDS)
    return _read_generic(table, colmap, options)


def _one(colmap: ColumnMap, name: str) -> str | None:
    columns = colmap.get(name)
    return columns[0] if columns else None


def _read_generic(table: Table, colmap: ColumnMap, options: ReadOptions) -> OrdersRead:
    collector = RejectCollector(table)
    customer_col = _one(colmap, "customer")
    date_col = _one(colmap, "date")
    assert customer_col is not None and date_col is not None
    customers = table.column(customer_col)
    collector.add(blank_mask(customers), customer_col, "missing customer id")

    created, bad_date = parse_timestamps(table.column(date_col), options.tz, options.date_format)
    hint = f"the format {options.date_format!r}" if options.date_format else ISO_HINT
    collector.add(bad_date, date_col, f"unreadable date; expected {hint}")

    amount_cols = colmap.fields["amount"]
    amounts, bad_amount = parse_numbers(table.column(amount_cols[0]))
    collector.add(bad_amount, amount_cols[0], "amount is not a number (use a dot for decimals, no currency sign)")
    if len(amount_cols) == 2:
        factor, bad_factor = parse_numbers(table.column(amount_cols[1]))
        collector.add(bad_factor, amount_cols[1], "amount factor is not a number")
        amounts = amounts * factor

    status_col = _one(colmap, "status")
    if status_col is not None:
        status = status_codes(table.column(status_col), collector, status_col)
    else:
        status = np.zeros(len(table.rows), dtype=np.uint8)
    order_col = _one(colmap, "order")
    orders = table.column(order_col) if order_col else None
    if orders is not None and order_col is not None:
        collector.add(blank_mask(orders), order_col, "missing order id")
    email_col = _one(colmap, "email")
    currency_col = _one(colmap, "currency")
    rows = ParsedRows(customer=customers, created_utc=created, amount_units=to_money_units(amounts),
                      status=status, order=orders,
                      currency=table.column(currency_col) if currency_col else None,
                      email=table.column(email_col) if email_col else None)
    currency = apply_currency(rows, collector, currency_col, options.currency, options.rates)
    return group_orders(rows, collector, store_currency=currency, file_format="csv")


@dataclass
class SummaryRead:
    metrics: CustomerMetrics
    rejects: list[Reject]
    rows_read: int
    emails: dict[str, str]
    header: list[str]


def read_summary_file(path: Path, colmap: ColumnMap, options: ReadOptions, as_of: date) -> SummaryRead:
    """One row per customer: last order date, number of orders, total spend."""
    table = read_table(path)
    _check_columns(table, colmap, REQUIRED_SUMMARY_FIELDS)
    collector = RejectCollector(table)
    customer_col = colmap.fields["customer"][0]
    customers = table.column(customer_col)
    collector.add(blank_mask(customers), customer_col, "missing customer id")
    last_col = colmap.fields["last_order"][0]
    # A summary's dates are calendar dates in the store's zone; parse as wall-clock and keep the day.
    last_utc, bad = parse_timestamps(table.column(last_col), options.tz, options.date_format)
    collector.add(bad, last_col, f"unreadable date; expected {ISO_HINT}")
    freq_col, money_col = colmap.fields["frequency"][0], colmap.fields["monetary"][0]
    frequency, bad_f = parse_numbers(table.column(freq_col))
    collector.add(bad_f | (frequency < 0), freq_col, "order count is not a number of 0 or more")
    monetary, bad_m = parse_numbers(table.column(money_col))
    collector.add(bad_m, money_col, "spend is not a number")
    keep = np.flatnonzero(collector.good)
    ids = [customers[i].strip() for i in keep.tolist()]
    unique_ids, _ = factorize(ids)
    if len(unique_ids) != len(ids):
        dup = np.zeros(len(table.rows), dtype=np.bool_)
        seen: set[str] = set()
        for row_index, cid in zip(keep.tolist(), ids, strict=True):
            dup[row_index] = cid in seen
            seen.add(cid)
        collector.add(dup, customer_col, "customer appears more than once in a summary file")
        keep = np.flatnonzero(collector.good)
        ids = [customers[i].strip() for i in keep.tolist()]
    local_day = local_days(last_utc[keep], options.tz)
    metrics = metrics_from_summary(ids, local_day, frequency[keep], monetary[keep], as_of)
    email_col = _one(colmap, "email")
    emails: dict[str, str] = {}
    if email_col:
        email_values = table.column(email_col)
        emails = {customers[i].strip(): email_values[i].strip() for i in keep.tolist() if email_values[i].strip()}
    return SummaryRead(metrics, sorted(collector.rejects, key=lambda r: r.line),
                       len(table.rows) + len(table.rejects), emails, table.header)


