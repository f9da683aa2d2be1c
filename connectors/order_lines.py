"""Parsed rows of an order file, turned into one order per order id and a columnar batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors._csvfile import Reject, RejectCollector
from rfmsync.core.batch import OrderBatch, factorize
from rfmsync.core.models import STATUS_CODES, OrderStatus

# Status words of the systems shops export from (WooCommerce, Square, generic carts), lower-cased.
STATUS_WORDS: dict[str, OrderStatus] = {
    **{w: OrderStatus.PAID for w in ("", "paid", "complete", "completed", "success", "succeeded",
                                     "fulfilled", "shipped", "delivered", "closed", "open")},
    **{w: OrderStatus.PENDING for w in ("pending", "processing", "on-hold", "on_hold", "authorized",
                                        "partially_paid", "partially paid", "unpaid")},
    **{w: OrderStatus.PARTIALLY_REFUNDED for w in ("partially_refunded", "partially refunded")},
    OrderStatus.REFUNDED.value: OrderStatus.REFUNDED,
    **{w: OrderStatus.CANCELLED for w in ("cancelled", "canceled")},
    **{w: OrderStatus.VOIDED for w in ("voided", "void", "failed", "expired", "trash", "draft",
                                       "checkout-draft")},
    OrderStatus.TEST.value: OrderStatus.TEST,
}


def status_codes(values: list[str], collector: RejectCollector, column: str) -> NDArray[np.uint8]:
    # A file has a handful of distinct statuses: look each up once, then index.
    distinct, inverse = factorize(values)
    lookup = {word: STATUS_CODES[status] for word, status in STATUS_WORDS.items()}
    distinct_codes = [lookup.get(word.strip().lower()) for word in distinct]
    unknown_distinct = np.asarray([c is None for c in distinct_codes], dtype=np.bool_)
    table = np.asarray([0 if c is None else c for c in distinct_codes], dtype=np.uint8)
    if unknown_distinct.any():
        known = ", ".join(sorted({s.value for s in OrderStatus}))
        collector.add(unknown_distinct[inverse], column,
                      f"unknown order status; expected one of {known} (or a common synonym)")
    return table[inverse] if len(values) else np.zeros(0, dtype=np.uint8)


@dataclass
class ParsedRows:
    """Row-level columns (one row per line item or per order) before bad rows are dropped."""

    customer: list[str]
    created_utc: NDArray[np.int64]
    amount_units: NDArray[np.int64]
    status: NDArray[np.uint8]
    order: list[str] | None = None
    currency: list[str] | None = None
    email: list[str] | None = None


@dataclass
class OrdersRead:
    """What an order file gave: the batch to score, rejects, and counts for the summary."""

    batch: OrderBatch
    rejects: list[Reject]
    rows_read: int
    orders: int
    currency: str | None
    emails: dict[str, str]  # customer id -> last email seen; written to the segments file only
    file_format: str
    header: list[str]
    # Per order of `batch`, in the same order: the file's order id (None when it has no order
    # column) and the order's email ("" when none); what a ledger source needs beyond the batch.
    order_ids: list[str] | None = None
    order_emails: list[str] | None = None


def apply_currency(rows: ParsedRows, collector: RejectCollector, column: str | None,
                   store_currency: str | None, rates: dict[str, float]) -> str | None:
    """Converts other currencies by the configured rates; rejects rows with no rate.

    Amounts in different currencies are never summed as if equal (rfm-methods.md, Monetary).
    The store currency defaults to the file's most common one.
    """
    if rows.currency is None:
        return store_currency
    codes = [c.strip().upper() for c in rows.currency]
    good = collector.good
    if store_currency is None:
        counts = Counter(c for c, ok in zip(codes, good.tolist(), strict=True) if ok and c)
        store_currency = counts.most_common(1)[0][0] if counts else None
    if store_currency is None:
        return None
    store_currency = store_currency.upper()
    distinct = set(codes)
    for code in distinct - {store_currency}:
        mask = np.fromiter((c == code for c in codes), dtype=np.bool_, count=len(codes))
        if code in rates:
            rows.amount_units[mask] = np.rint(rows.amount_units[mask] * rates[code]).astype(np.int64)
        elif not code:
            continue  # blank currency: the store's own
        else:
            collector.add(mask, column, f"amount is in another currency than the store's ({store_currency}) "
                          "and no exchange rate is set for it (--rate CODE=RATE)")
    return store_currency


def group_orders(rows: ParsedRows, collector: RejectCollector, *, store_currency: str | None,
                 file_format: str) -> OrdersRead:
    """Good rows summed into one order per order id; order fields come from each order's first row."""
    keep = np.flatnonzero(collector.good)
    keep_list = keep.tolist()
    customers = [rows.customer[i].strip() for i in keep_list]
    created = rows.created_utc[keep]
    units = rows.amount_units[keep]
    status = rows.status[keep]
    order_rows = keep_list
    order_ids: list[str] | None = None
    if rows.order is not None:
        order_keys = [rows.order[i].strip() for i in keep_list]
        order_ids, order_codes = factorize(order_keys)
        n_orders = int(order_codes.max()) + 1 if len(order_codes) else 0
        first = np.full(n_orders, len(order_codes), dtype=np.int64)
        np.minimum.at(first, order_codes, np.arange(len(order_codes), dtype=np.int64))
        units = np.bincount(order_codes, weights=units.astype(np.float64), minlength=n_orders).astype(np.int64)
        customers = [customers[i] for i in first.tolist()]
        order_rows = [keep_list[i] for i in first.tolist()]
        created = created[first]
        status = status[first]
    ids, codes = factorize(customers)
    emails: dict[str, str] = {}
    if rows.email is not None:
        for i in keep_list:
            email = rows.email[i].strip()
            if email:
                emails[rows.customer[i].strip()] = email
    batch = OrderBatch(customer_ids=ids, customer_codes=codes, created_utc=created,
                       amount_units=units, status_codes=status)
    return OrdersRead(batch=batch, rejects=sorted(collector.rejects, key=lambda r: r.line),
                      rows_read=len(collector.bad) + len(collector.table.rejects), orders=len(batch),
                      currency=store_currency, emails=emails, file_format=file_format,
                      header=collector.table.header, order_ids=order_ids,
                      order_emails=[rows.email[i].strip() for i in order_rows] if rows.email is not None else None)
