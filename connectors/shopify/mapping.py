"""Shopify order nodes (GraphQL and bulk JSONL share the shape) to `Order`s, or to columns for a backfill."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from pydantic import ValidationError
from rfmsync.connectors.base import OrderColumns, RejectedRecord, lines_json
from rfmsync.connectors.channels import shopify_channel
from rfmsync.core.batch import to_units
from rfmsync.core.models import STATUS_CODES, Order, OrderLine, OrderStatus

# Only what RFM needs: cost scales with what is selected (docs/platforms.md §1.3).
# currentTotalPriceSet is the total after refunds and removed items (§1.1); Customer.email is
# deprecated in favour of defaultEmailAddress (2025-04, §0.6).
# The customer's marketing states ride on the same objects (2025-04): consent for ad audiences.
ORDER_FIELDS = (
    "id createdAt updatedAt cancelledAt test email sourceName displayFinancialStatus "
    "currentTotalPriceSet { shopMoney { amount currencyCode } } "
    "customer { id defaultEmailAddress { emailAddress marketingState } "
    "defaultPhoneNumber { phoneNumber marketingState } }"
)

# Line items for rfm.categories (line_categories = true): the line's total after discounts for its
# original quantity, the quantity left after refunds and removals, and the product's type (the
# shop's own word, "Coffee") and Standard Product Taxonomy category.
LINE_FIELDS = ("id quantity currentQuantity discountedTotalSet { shopMoney { amount } } "
               "product { productType category { name } }")
# A page's requested cost is about 3 + LINES_PER_ORDER x 5 points per order (each object in a line
# counts, §1.3); Shopify refuses a query above 1,000 points: 18 orders of 10 lines stay below.
LINES_PER_ORDER = 10
LINE_PAGE_SIZE = 18
PAGED_LINES = f" lineItems(first: {LINES_PER_ORDER}) {{ pageInfo {{ hasNextPage }} nodes {{ {LINE_FIELDS} }} }}"
BULK_LINES = f" lineItems {{ edges {{ node {{ {LINE_FIELDS} }} }} }}"


def lines_of(node: Mapping[str, Any]) -> tuple[OrderLine, ...]:
    """The order's lines whose product has a type or category, each at its total less what was
    refunded or removed (in proportion to the quantity left)."""
    held = node.get("lineItems") or {}
    lines = []
    for item in held.get("nodes") or []:
        if not isinstance(item, dict):
            continue
        product = item.get("product") or {}
        names = tuple(n for n in (str(product.get("productType") or "").strip(),
                                  str((product.get("category") or {}).get("name") or "").strip()) if n)
        if not names:
            continue
        total = Decimal(str(((item.get("discountedTotalSet") or {}).get("shopMoney") or {}).get("amount") or 0))
        quantity = int(item.get("quantity") or 0)
        current = item.get("currentQuantity")
        left = quantity if current is None else int(current)
        amount = total * left / quantity if quantity > 0 else total
        lines.append(OrderLine(categories=names, amount=amount.quantize(Decimal("0.0001"))))
    return tuple(lines)


# CustomerEmailAddressMarketingState and CustomerSmsMarketingState: only SUBSCRIBED is consent;
# PENDING (double opt-in not confirmed), NOT_SUBSCRIBED, UNSUBSCRIBED, INVALID and REDACTED are not.
_NOT_CONSENT = frozenset({"NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "INVALID", "REDACTED"})


def _consent(holder: Mapping[str, Any] | None) -> bool | None:
    state = (holder or {}).get("marketingState")
    if state == "SUBSCRIBED":
        return True
    return False if state in _NOT_CONSENT else None

FINANCIAL_STATUS = {
    "PAID": OrderStatus.PAID,
    "PENDING": OrderStatus.PENDING,
    "AUTHORIZED": OrderStatus.PENDING,
    "PARTIALLY_PAID": OrderStatus.PENDING,
    "PARTIALLY_REFUNDED": OrderStatus.PARTIALLY_REFUNDED,
    "REFUNDED": OrderStatus.REFUNDED,
    "VOIDED": OrderStatus.VOIDED,
    "EXPIRED": OrderStatus.VOIDED,
}


def gid_tail(gid: str) -> str:
    """"gid://shopify/Order/1001" -> "1001": the same id the admin and the REST API show."""
    return gid.rsplit("/", 1)[-1]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("a time without a time zone")
    return when


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


# Amounts from 10**12 up are not money but a broken export or a test (as for order files).
_MAX_AMOUNT = Decimal(10) ** 12


@dataclass(frozen=True)
class _Values:
    order_id: str
    customer_key: str | None
    email: str | None
    created: datetime
    updated: datetime | None
    amount: Decimal
    currency: str
    status: OrderStatus
    channel: str | None
    phone: str | None = None
    email_consent: bool | None = None
    sms_consent: bool | None = None


def _values(node: Mapping[str, Any]) -> _Values:
    """What rfmsync keeps of a node, checked as `Order` checks it; raises on a malformed node."""
    gid = str(node.get("id") or "")
    money = node["currentTotalPriceSet"]["shopMoney"]
    customer = node.get("customer") or {}
    email_holder = customer.get("defaultEmailAddress")
    phone_holder = customer.get("defaultPhoneNumber")
    default_email = (email_holder or {}).get("emailAddress")
    if node.get("test"):
        status = OrderStatus.TEST  # "Test orders are not sales" (§1.1)
    elif node.get("cancelledAt"):
        status = OrderStatus.CANCELLED
    else:
        status = FINANCIAL_STATUS.get(str(node.get("displayFinancialStatus") or "PAID"), OrderStatus.PAID)
    created = _time(node.get("createdAt"))
    if created is None or not gid_tail(gid):
        raise KeyError("createdAt" if created is None else "id")
    amount = Decimal(str(money["amount"]))
    if not amount.is_finite() or abs(amount) >= _MAX_AMOUNT:
        raise ValueError("amount is not a finite number below 10^12")
    currency = str(money["currencyCode"])
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError("currencyCode is not a three-letter ISO 4217 code")
    return _Values(gid_tail(gid), gid_tail(customer["id"]) if customer.get("id") else None,
                   _text(default_email) or _text(node.get("email")), created, _time(node.get("updatedAt")), amount,
                   currency.upper(), status, _text(node.get("sourceName")),
                   _text((phone_holder or {}).get("phoneNumber")), _consent(email_holder), _consent(phone_holder))


def _reject(node: Mapping[str, Any], exc: Exception) -> RejectedRecord:
    gid = str(node.get("id") or "")
    position = f"order {gid_tail(gid)}" if gid else "order without an id"
    reason = f"missing or malformed {exc.args[0]!r}" if isinstance(exc, KeyError) else type(exc).__name__
    if isinstance(exc, ValidationError):
        reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return RejectedRecord(position, reason, {"id": gid})


_MALFORMED = (KeyError, TypeError, InvalidOperation, ValueError, AttributeError)


def order_from_node(node: Mapping[str, Any], source: str) -> Order | RejectedRecord:
    """A paged answer's node as an `Order`."""
    try:
        v = _values(node)
        return Order(source=source, order_id=v.order_id, customer_key=v.customer_key, email=v.email,
                     created_at=v.created, updated_at=v.updated, amount=v.amount, currency=v.currency,
                     status=v.status, channel=shopify_channel(v.channel), channel_detail=v.channel, phone=v.phone,
                     email_consent=v.email_consent, sms_consent=v.sms_consent, lines=lines_of(node))
    except _MALFORMED as exc:
        return _reject(node, exc)


def columns_from_nodes(nodes: Sequence[Mapping[str, Any]], source: str
                       ) -> tuple[OrderColumns | None, list[RejectedRecord]]:
    """A bulk result's nodes as columns, checked as `order_from_node` checks them but without a
    model per order: a backfill of a million orders spends its time in the ledger, not in pydantic."""
    ids: list[str] = []
    keys: list[str | None] = []
    emails: list[str | None] = []
    created: list[int] = []
    updated: list[int] = []
    units: list[int] = []
    currencies: list[str] = []
    statuses: list[int] = []
    phones: list[str | None] = []
    email_consents: list[bool | None] = []
    sms_consents: list[bool | None] = []
    details: list[str | None] = []
    lines: list[str | None] = []
    rejects: list[RejectedRecord] = []
    for node in nodes:
        try:
            v = _values(node)
        except _MALFORMED as exc:
            rejects.append(_reject(node, exc))
            continue
        ids.append(v.order_id)
        keys.append(v.customer_key)
        emails.append(v.email)
        created.append(int(v.created.timestamp()))
        updated.append(int((v.updated or v.created).timestamp()))
        units.append(to_units(v.amount))
        currencies.append(v.currency)
        statuses.append(STATUS_CODES[v.status])
        phones.append(v.phone)
        email_consents.append(v.email_consent)
        sms_consents.append(v.sms_consent)
        details.append(v.channel)
        lines.append(lines_json(lines_of(node)))
    if not ids:
        return None, rejects
    columns = OrderColumns(
        source=source, order_id=np.asarray(ids, dtype=object), customer_key=np.asarray(keys, dtype=object),
        email=np.asarray(emails, dtype=object), created_utc=np.asarray(created, dtype=np.int64),
        amount_units=np.asarray(units, dtype=np.int64), status_code=np.asarray(statuses, dtype=np.uint8),
        currency=np.asarray(currencies, dtype=object), updated_utc=np.asarray(updated, dtype=np.int64),
        phone=np.asarray(phones, dtype=object), email_consent=np.asarray(email_consents, dtype=object),
        sms_consent=np.asarray(sms_consents, dtype=object),
        channel=np.asarray([shopify_channel(d) for d in details], dtype=object),
        channel_detail=np.asarray(details, dtype=object), order_lines=np.asarray(lines, dtype=object))
    return columns, rejects
