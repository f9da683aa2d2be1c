"""Order files in any CSV layout, given a column mapping, and per-customer summary files.

`--map customer=CustomerID,date=InvoiceDate,amount=Quantity*UnitPrice,order=InvoiceNo`: rows with
the same order id are summed into one order, so line-level files (one row per item) work as they
are. `amount` may be one column or the product of two (quantity times unit price).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.cells import NOT_A_NUMBER, OUT_OF_RANGE, amounts_of, dates_of, out_of_range
from rfmsync.connectors.orderfiles.columns import WORKERS, TextColumn
from rfmsync.connectors.orderfiles.csvfile import Reject, RejectCollector, TableLike, load_table
from rfmsync.connectors.orderfiles.lines import (
    OrdersRead,
    ParsedRows,
    apply_currency,
    consent_flags,
    group_orders,
    last_emails,
    status_codes,
)
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.shopify_export import is_shopify_export, read_shopify_export
from rfmsync.connectors.orderfiles.textparse import ISO_HINT, to_money_units
from rfmsync.core.aggregate import CustomerMetrics, metrics_from_summary
from rfmsync.core.errors import InputError
from rfmsync.core.timezones import local_days

ORDER_FIELDS = ("customer", "date", "amount", "order", "email", "status", "currency", "phone", "accepts_marketing")
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
    "phone": ("phone", "customer_phone", "phone_number"),
    # Marketing consent as shops export it (Shopify's customer export says accepts_email_marketing).
    "accepts_marketing": ("accepts_marketing", "accepts_email_marketing", "marketing_consent"),
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


def _check_columns(table: TableLike, colmap: ColumnMap, required: tuple[str, ...]) -> None:
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
    table = load_table(path, options.encoding, options.delimiter)
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


def _read_generic(table: TableLike, colmap: ColumnMap, options: ReadOptions) -> OrdersRead:
    collector = RejectCollector(table)
    customer_col = _one(colmap, "customer")
    date_col = _one(colmap, "date")
    assert customer_col is not None and date_col is not None
    amount_cols = colmap.fields["amount"]
    status_col, order_col = _one(colmap, "status"), _one(colmap, "order")
    email_col, currency_col = _one(colmap, "email"), _one(colmap, "currency")
    # pyarrow's kernels release the GIL: columns are parsed on threads.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        # Each column's costly work is independent of the others': columns are read and parsed two
        # (or more) at a time, each keeping its results. The checks below still run one after
        # another in the fixed order that decides the reason of a row with several problems.
        def prepare(name: str | None, strip: bool = False, factorize: bool = False, names: bool = False
                    ) -> Future[TextColumn | None]:
            def work() -> TextColumn | None:
                if name is None:
                    return None
                column = table.text_column(name)
                if strip:  # ids and emails are only ever used stripped
                    column = column.stripped()
                    column.blank()
                if factorize:
                    distinct = column.factorize()[0]
                    if names:  # decoded once here, for the batch's customer ids
                        distinct.to_list()
                return column
            return pool.submit(work)

        def numbers_of(name: str) -> Future[tuple[NDArray[np.float64], NDArray[np.bool_]]]:
            return pool.submit(lambda: amounts_of(table, name, options.decimal))

        # Submitted longest first, so that the short ones even out the threads' loads at the end.
        customers_ready = prepare(customer_col, strip=True, factorize=True, names=True)
        parsed_dates = pool.submit(lambda: dates_of(table, date_col, options))
        emails_ready = prepare(email_col, strip=True)

        def emails_ahead() -> dict[str, str] | None:
            # Each customer's email as if every row were good (the usual case), while the main
            # thread checks rows; group_orders uses it only if no row was rejected. (The two
            # columns it waits for were submitted before it: no thread waits on a queued task.)
            customers, emails = customers_ready.result(), emails_ready.result()
            if customers is None or emails is None:
                return None
            return last_emails(customers, emails)

        emails_of_all_rows = pool.submit(emails_ahead)
        parsed_amounts = [numbers_of(c) for c in amount_cols]
        orders_ready = prepare(order_col, strip=True, factorize=True)
        statuses_ready = prepare(status_col, factorize=True)
        currencies_ready = prepare(currency_col, factorize=True)
        phone_col, consent_col = _one(colmap, "phone"), _one(colmap, "accepts_marketing")
        phones_ready = prepare(phone_col, strip=True)
        consents_ready = prepare(consent_col, factorize=True)

        customers = customers_ready.result()
        assert customers is not None
        collector.add(customers.blank(), customer_col, "missing customer id")
        created, bad_date = parsed_dates.result()
        hint = f"the format {options.date_format!r}" if options.date_format else ISO_HINT
        collector.add(bad_date, date_col, f"unreadable date; expected {hint}")
        amounts, bad_amount = parsed_amounts[0].result()
        collector.add(bad_amount, amount_cols[0], NOT_A_NUMBER)
        if len(amount_cols) == 2:
            factor, bad_factor = parsed_amounts[1].result()
            collector.add(bad_factor, amount_cols[1], "amount factor is not a number")
            with np.errstate(over="ignore", invalid="ignore"):
                amounts = amounts * factor
        collector.add(out_of_range(amounts), amount_cols[0], OUT_OF_RANGE)
        statuses = statuses_ready.result()
        if statuses is not None and status_col is not None:
            status = status_codes(statuses, collector, status_col)
        else:
            status = np.zeros(table.n_rows, dtype=np.uint8)
        orders = orders_ready.result()
        if orders is not None and order_col is not None:
            collector.add(orders.blank(), order_col, "missing order id")
        consent_values = consents_ready.result()
        consent = (consent_flags(consent_values, collector, consent_col)
                   if consent_values is not None and consent_col is not None else None)
        rows = ParsedRows(customer=customers, created_utc=created, amount_units=to_money_units(amounts),
                          status=status, order=orders, currency=currencies_ready.result(),
                          email=emails_ready.result(), phone=phones_ready.result(), consent=consent)
    currency = apply_currency(rows, collector, currency_col, options.currency, options.rates)
    return group_orders(rows, collector, store_currency=currency, file_format="csv",
                        emails_of_all_rows=emails_of_all_rows.result())


@dataclass
class SummaryRead:
    metrics: CustomerMetrics
    rejects: list[Reject]
    rows_read: int
    emails: dict[str, str]
    header: list[str]


def read_summary_file(path: Path, colmap: ColumnMap, options: ReadOptions, as_of: date) -> SummaryRead:
    """One row per customer: last order date, number of orders, total spend."""
    table = load_table(path, options.encoding, options.delimiter)
    _check_columns(table, colmap, REQUIRED_SUMMARY_FIELDS)
    collector = RejectCollector(table)
    customer_col = colmap.fields["customer"][0]
    customers = table.text_column(customer_col).stripped()
    collector.add(customers.blank(), customer_col, "missing customer id")
    last_col = colmap.fields["last_order"][0]
    # A summary's dates are calendar dates in the store's zone; parse as wall-clock and keep the day.
    last_utc, bad = dates_of(table, last_col, options)
    collector.add(bad, last_col, f"unreadable date; expected {ISO_HINT}")
    freq_col, money_col = colmap.fields["frequency"][0], colmap.fields["monetary"][0]
    frequency, bad_f = amounts_of(table, freq_col, options.decimal)
    collector.add(bad_f | (frequency < 0), freq_col, "order count is not a number of 0 or more")
    monetary, bad_m = amounts_of(table, money_col, options.decimal)
    collector.add(bad_m, money_col, "spend is not a number")
    collector.add(out_of_range(monetary), money_col, OUT_OF_RANGE)
    keep = np.flatnonzero(collector.good)
    _, codes, first = customers.take(keep).factorize()
    if len(first) != len(keep):
        # Every row of a customer after their first is a duplicate.
        dup = np.zeros(table.n_rows, dtype=np.bool_)
        dup[keep[first[codes] != np.arange(len(keep))]] = True
        collector.add(dup, customer_col, "customer appears more than once in a summary file")
        keep = np.flatnonzero(collector.good)
    kept = customers.take(keep)
    ids = kept.to_list()
    local_day = local_days(last_utc[keep], options.tz)
    metrics = metrics_from_summary(ids, local_day, frequency[keep], monetary[keep], as_of)
    email_col = _one(colmap, "email")
    emails: dict[str, str] = {}
    if email_col:
        email_values = table.text_column(email_col).take(keep).stripped()
        has_email = np.flatnonzero(~email_values.blank())
        emails = dict(zip(kept.take(has_email).to_list(), email_values.take(has_email).to_list(), strict=True))
    return SummaryRead(metrics, sorted(collector.rejects, key=lambda r: r.line),
                       table.n_rows + len(table.rejects), emails, table.header)
