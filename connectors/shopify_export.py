"""Shopify's own "Export orders" CSV from the admin.

One row per line item; order fields (totals, status, dates) are filled on each order's first row
only, and every row repeats the order's `Name` (#1001). The export has no customer id, so the
customer is the order's email (normalized), or its phone when there is no email.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._csvfile import (
    RejectCollector,
    Table,
    blank_mask,
    parse_numbers,
    parse_timestamps,
    to_money_units,
)
from rfmsync.connectors.order_lines import OrdersRead, ParsedRows, apply_currency, group_orders
from rfmsync.connectors.read_options import ReadOptions
from rfmsync.core.models import STATUS_CODES, OrderStatus, normalize_email

# Columns whose presence identifies the export; all are in every admin export since at least 2019.
SIGNATURE = ("Name", "Email", "Financial Status", "Created at", "Total", "Lineitem name")

FINANCIAL_STATUS: dict[str, OrderStatus] = {
    "paid": OrderStatus.PAID,
    "pending": OrderStatus.PENDING,
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PENDING,
    "partially_refunded": OrderStatus.PARTIALLY_REFUNDED,
    "refunded": OrderStatus.REFUNDED,
    "voided": OrderStatus.VOIDED,
    "expired": OrderStatus.VOIDED,
}


def is_shopify_export(header: list[str]) -> bool:
    return all(name in header for name in SIGNATURE)


def read_shopify_export(table: Table, options: ReadOptions) -> OrdersRead:
    # Only each order's first row carries its totals; the other rows would be rejected as
    # having no date, so they are set aside before any check.
    rows_in_file = len(table.rows) + len(table.rejects)
    first_rows = _first_rows_of_orders(table)
    table = Table(table.path, table.header, [table.rows[i] for i in first_rows], table.lines[first_rows],
                  table.rejects)
    collector = RejectCollector(table)

    emails = table.column("Email")
    phones = table.column("Phone") if "Phone" in table.header else [""] * len(table.rows)
    customers = [normalize_email(e) if e.strip() else "".join(ch for ch in p if ch.isdigit() or ch == "+")
                 for e, p in zip(emails, phones, strict=True)]
    collector.add(blank_mask(customers), "Email", "no customer: the order has neither an email nor a phone "
                  "(guest checkout or redacted customer data)")

    created, bad_date = parse_timestamps(table.column("Created at"), options.tz, options.date_format)
    collector.add(bad_date, "Created at", f"unreadable date; expected {'YYYY-MM-DD HH:MM:SS -0500'}")

    total, bad_total = parse_numbers(table.column("Total"))
    collector.add(bad_total, "Total", "total is not a number")
    refunded = np.zeros(len(table.rows))
    if "Refunded Amount" in table.header:
        raw_refunds = table.column("Refunded Amount")
        refunded, bad_refund = parse_numbers([r if r.strip() else "0" for r in raw_refunds])
        collector.add(bad_refund, "Refunded Amount", "refunded amount is not a number")
    financial = [s.strip().lower() for s in table.column("Financial Status")]
    status = np.fromiter((STATUS_CODES[FINANCIAL_STATUS.get(s, OrderStatus.PAID)] for s in financial),
                         dtype=np.uint8, count=len(financial))
    net = total - refunded
    # A "refunded" order without a refunded amount in the file is refunded in full.
    net[status == STATUS_CODES[OrderStatus.REFUNDED]] = 0.0
    if "Cancelled at" in table.header:
        cancelled = ~blank_mask(table.column("Cancelled at"))
        status[cancelled] = STATUS_CODES[OrderStatus.CANCELLED]

    rows = ParsedRows(customer=customers, created_utc=created, amount_units=to_money_units(net), status=status,
                      currency=table.column("Currency") if "Currency" in table.header else None,
                      email=emails)
    currency = apply_currency(rows, collector, "Currency", options.currency, options.rates)
    result = group_orders(rows, collector, store_currency=currency, file_format="shopify-export")
    result.rows_read = rows_in_file
    return result


def _first_rows_of_orders(table: Table) -> NDArray[np.int64]:
    names = table.column("Name")
    seen: set[str] = set()
    first = []
    for i, name in enumerate(names):
        if name not in seen:
            seen.add(name)
            first.append(i)
    return np.asarray(first, dtype=np.int64)
