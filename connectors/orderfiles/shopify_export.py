"""Shopify's own "Export orders" CSV from the admin.

One row per line item; order fields (totals, status, dates) are filled on each order's first row
only, and every row repeats the order's `Name` (#1001). The export has no customer id, so the
customer is the order's email (normalized), or its phone when there is no email.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.cells import OUT_OF_RANGE, amounts_of, dates_of, out_of_range
from rfmsync.connectors.orderfiles.columns import ArrowColumn
from rfmsync.connectors.orderfiles.csvfile import RejectCollector, TableLike
from rfmsync.connectors.orderfiles.lines import OrdersRead, ParsedRows, apply_currency, group_orders
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.textparse import to_money_units
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


def read_shopify_export(table: TableLike, options: ReadOptions) -> OrdersRead:
    # Only each order's first row carries its totals; the other rows would be rejected as
    # having no date, so they are set aside before any check.
    rows_in_file = table.n_rows + len(table.rejects)
    table = table.subset(_first_rows_of_orders(table))
    collector = RejectCollector(table)

    email_column = table.text_column("Email")
    emails = email_column.to_list()
    phones = table.text_column("Phone").to_list() if "Phone" in table.header else [""] * table.n_rows
    customers = ArrowColumn.of([normalize_email(e) if e.strip()
                                else "".join(ch for ch in p if ch.isdigit() or ch == "+")
                                for e, p in zip(emails, phones, strict=True)])
    collector.add(customers.blank(), "Email", "no customer: the order has neither an email nor a phone "
                  "(guest checkout or redacted customer data)")

    created, bad_date = dates_of(table, "Created at", options)
    collector.add(bad_date, "Created at", f"unreadable date; expected {'YYYY-MM-DD HH:MM:SS -0500'}")

    total, bad_total = amounts_of(table, "Total", options.decimal)
    collector.add(bad_total, "Total", "total is not a number")
    collector.add(out_of_range(total), "Total", OUT_OF_RANGE)
    refunded = np.zeros(table.n_rows)
    if "Refunded Amount" in table.header:
        refunded, bad_refund = amounts_of(table, "Refunded Amount", options.decimal, blank_is_zero=True)
        collector.add(bad_refund, "Refunded Amount", "refunded amount is not a number")
    financial, which, _ = table.text_column("Financial Status").factorize()
    status_of = np.asarray([STATUS_CODES[FINANCIAL_STATUS.get(s.strip().lower(), OrderStatus.PAID)]
                            for s in financial.to_list()], dtype=np.uint8)
    status = status_of[which] if len(which) else np.zeros(0, dtype=np.uint8)
    net = total - refunded
    # A "refunded" order without a refunded amount in the file is refunded in full.
    net[status == STATUS_CODES[OrderStatus.REFUNDED]] = 0.0
    if "Cancelled at" in table.header:
        cancelled = ~table.text_column("Cancelled at").blank()
        status[cancelled] = STATUS_CODES[OrderStatus.CANCELLED]

    rows = ParsedRows(customer=customers, created_utc=created, amount_units=to_money_units(net), status=status,
                      currency=table.text_column("Currency") if "Currency" in table.header else None,
                      email=email_column)
    currency = apply_currency(rows, collector, "Currency", options.currency, options.rates)
    result = group_orders(rows, collector, store_currency=currency, file_format="shopify-export")
    result.rows_read = rows_in_file
    return result


def _first_rows_of_orders(table: TableLike) -> NDArray[np.int64]:
    # Each order's rows repeat its Name; the first row of each Name, in file order.
    _, _, first = table.text_column("Name").factorize()
    return first
