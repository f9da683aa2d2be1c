"""Parsed rows of an order file, turned into one order per order id and a columnar batch.

Everything here works on `TextColumn`s and arrays, so it is the same code whichever way the file
was read; per-row Python loops are avoided (a file has a million rows, a handful of statuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rfmsync.connectors.orderfiles.columns import Codes, TextColumn, factorize_keys, factorize_rows
from rfmsync.connectors.orderfiles.csvfile import Reject, RejectCollector
from rfmsync.core.batch import OrderBatch
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


def status_codes(values: TextColumn, collector: RejectCollector, column: str) -> NDArray[np.uint8]:
    # A file has a handful of distinct statuses: look each up once, then index.
    distinct, inverse, _ = values.factorize()
    lookup = {word: STATUS_CODES[status] for word, status in STATUS_WORDS.items()}
    distinct_codes = [lookup.get(word.strip().lower()) for word in distinct.to_list()]
    unknown_distinct = np.asarray([c is None for c in distinct_codes], dtype=np.bool_)
    table = np.asarray([0 if c is None else c for c in distinct_codes], dtype=np.uint8)
    if unknown_distinct.any():
        known = ", ".join(sorted({s.value for s in OrderStatus}))
        collector.add(unknown_distinct[inverse], column,
                      f"unknown order status; expected one of {known} (or a common synonym)")
    return table[inverse] if len(values) else np.zeros(0, dtype=np.uint8)


# A file's marketing consent column (`accepts_marketing`), lower-cased; blank is "not recorded".
CONSENT_WORDS: dict[str, int] = {**{w: 1 for w in ("true", "yes", "1", "y")},
                                 **{w: 0 for w in ("false", "no", "0", "n")}, "": -1}


def consent_flags(values: TextColumn, collector: RejectCollector, column: str) -> NDArray[np.int8]:
    """1 (consented), 0 (refused) or -1 (blank: not recorded) per row; other words reject the row."""
    distinct, inverse, _ = values.factorize()
    flags = [CONSENT_WORDS.get(word.strip().lower()) for word in distinct.to_list()]
    unknown = np.asarray([f is None for f in flags], dtype=np.bool_)
    if unknown.any():
        collector.add(unknown[inverse], column, "marketing consent: expected true/false, yes/no or 1/0 (or blank)")
    table = np.asarray([-1 if f is None else f for f in flags], dtype=np.int8)
    return table[inverse] if len(values) else np.zeros(0, dtype=np.int8)


@dataclass
class ParsedRows:
    """Row-level columns (one row per line item or per order) before bad rows are dropped."""

    customer: TextColumn
    created_utc: NDArray[np.int64]
    amount_units: NDArray[np.int64]
    status: NDArray[np.uint8]
    order: TextColumn | None = None
    currency: TextColumn | None = None
    email: TextColumn | None = None
    phone: TextColumn | None = None
    consent: NDArray[np.int8] | None = None  # consent_flags


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
    # Sequences, not lists: from the fast path they decode each string when it is read.
    order_ids: Sequence[str] | None = None
    order_emails: Sequence[str] | None = None
    order_phones: Sequence[str] | None = None  # "" when none
    order_consent: NDArray[np.int8] | None = None  # consent_flags of each order's first row
    warnings: Sequence[str] = ()  # said once to the user (the encoding the file was read in)


def apply_currency(rows: ParsedRows, collector: RejectCollector, column: str | None,
                   store_currency: str | None, rates: dict[str, float]) -> str | None:
    """Converts other currencies by the configured rates; rejects rows with no rate.

    Amounts in different currencies are never summed as if equal (docs/scoring.md, Monetary).
    The store currency defaults to the file's most common one.
    """
    if rows.currency is None:
        return store_currency
    # Work on the few distinct cells: " eur" and "EUR" are one code after strip().upper().
    distinct, inverse, _ = rows.currency.factorize()
    code_index: dict[str, int] = {}
    of_distinct = np.asarray([code_index.setdefault(c.strip().upper(), len(code_index))
                              for c in distinct.to_list()], dtype=np.int64)
    codes = list(code_index)
    if len(codes) == 1:  # one currency in the file (the usual case): nothing to count or convert
        if store_currency is None:
            store_currency = codes[0] if codes[0] and bool(collector.good.any()) else None
        if store_currency is None or codes[0] in ("", store_currency.upper()):
            return None if store_currency is None else store_currency.upper()
    row_code = of_distinct[inverse] if len(inverse) else np.zeros(0, dtype=np.int64)
    if store_currency is None:
        store_currency = _most_common(row_code[collector.good], codes)
    if store_currency is None:
        return None
    store_currency = store_currency.upper()
    for index, code in enumerate(codes):
        if code == store_currency:
            continue
        mask = row_code == index
        if code in rates:
            rows.amount_units[mask] = np.rint(rows.amount_units[mask] * rates[code]).astype(np.int64)
        elif not code:
            continue  # blank currency: the store's own
        else:
            collector.add(mask, column, f"amount is in another currency than the store's ({store_currency}) "
                          "and no exchange rate is set for it (--rate CODE=RATE)")
    return store_currency


def _most_common(row_code: Codes, codes: list[str]) -> str | None:
    """The most frequent non-blank code; a tie goes to the one seen first (as Counter.most_common)."""
    counts = np.bincount(row_code, minlength=len(codes))
    first_seen = np.full(len(codes), len(row_code), dtype=np.int64)
    np.minimum.at(first_seen, row_code, np.arange(len(row_code), dtype=np.int64))
    candidates = [i for i, code in enumerate(codes) if code and counts[i]]
    if not candidates:
        return None
    return codes[max(candidates, key=lambda i: (int(counts[i]), -int(first_seen[i])))]


def group_orders(rows: ParsedRows, collector: RejectCollector, *, store_currency: str | None,
                 file_format: str, emails_of_all_rows: dict[str, str] | None = None) -> OrdersRead:
    """Good rows summed into one order per order id; order fields come from each order's first row.

    `emails_of_all_rows`: last_emails(rows.customer, rows.email) if worked out ahead; used when
    every row is good."""
    keep = np.flatnonzero(collector.good)
    # Factorizations come from each whole column (computed once, maybe ahead), refined to the good rows.
    subset = None if len(keep) == len(collector.bad) else keep
    customers, customer_codes, customer_first = factorize_rows(rows.customer.stripped(), subset)
    created, units, status = rows.created_utc, rows.amount_units, rows.status
    if subset is not None:
        created, units, status = created[keep], units[keep], status[keep]
    order_rows = keep
    order_customers = customer_codes
    order_ids: Sequence[str] | None = None
    if rows.order is not None:
        order_keys, order_codes, first = factorize_rows(rows.order.stripped(), subset)
        order_ids = order_keys.as_sequence()
        # Summed in float64 as bincount does, which is exact below 2**53 units: a file of one row per
        # order (the usual export) then needs no summing at all.
        if len(first) < len(order_codes) or bool((np.abs(units) >= 2**53).any()):
            units = np.bincount(order_codes, weights=units.astype(np.float64),
                                minlength=len(first)).astype(np.int64)
            order_customers = customer_codes[first]
            order_rows = keep[first]
            created = created[first]
            status = status[first]
    # Customers numbered in the order their first order appears: already so when orders are rows.
    if order_customers is customer_codes:
        codes, first_order = customer_codes, customer_first
    else:
        codes, first_order = factorize_keys(order_customers)
    names = customers.to_list()
    ids = list(map(names.__getitem__, order_customers[first_order].tolist()))
    emails: dict[str, str] = {}
    order_emails: Sequence[str] | None = None
    if rows.email is not None:
        email = rows.email.stripped()
        emails = (emails_of_all_rows if subset is None and emails_of_all_rows is not None
                  else _last_emails(names, customer_codes, email, keep))
        order_emails = (email if subset is None and order_rows is keep else email.take(order_rows)).as_sequence()
    order_phones: Sequence[str] | None = None
    if rows.phone is not None:
        phone = rows.phone.stripped()
        order_phones = (phone if subset is None and order_rows is keep else phone.take(order_rows)).as_sequence()
    order_consent = rows.consent[order_rows] if rows.consent is not None else None
    batch = OrderBatch(customer_ids=ids, customer_codes=codes, created_utc=created,
                       amount_units=units, status_codes=status)
    return OrdersRead(batch=batch, rejects=sorted(collector.rejects, key=lambda r: r.line),
                      rows_read=len(collector.bad) + len(collector.table.rejects), orders=len(batch),
                      currency=store_currency, emails=emails, file_format=file_format,
                      header=collector.table.header, order_ids=order_ids, order_emails=order_emails,
                      order_phones=order_phones, order_consent=order_consent,
                      warnings=collector.table.warnings)


def last_emails(customers: TextColumn, emails: TextColumn) -> dict[str, str]:
    """Customer id -> the last non-blank email of their rows, over every row (columns stripped)."""
    distinct, codes, _ = customers.factorize()
    return _last_emails(distinct.to_list(), codes, emails, np.arange(len(codes), dtype=np.int64))


def _last_emails(names: list[str], customer_codes: Codes, email: TextColumn, keep: Codes) -> dict[str, str]:
    """Customer id -> the last non-blank email of their rows (`keep`: the rows customer_codes are of)."""
    with_email = np.flatnonzero(~(email.blank() if len(keep) == len(email) else email.blank()[keep]))
    if not len(with_email):
        return {}
    last = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(last, customer_codes[with_email], with_email)
    having = np.flatnonzero(last >= 0)
    return dict(zip(map(names.__getitem__, having.tolist()), email.take(keep[last[having]]).to_list(), strict=True))
