"""Shopify order nodes (GraphQL and bulk JSONL share the shape) to `Order`s."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from rfmsync.connectors.base import RejectedRecord
from rfmsync.core.models import Order, OrderStatus

# Only what RFM needs: cost scales with what is selected (docs/platforms.md §1.3).
# currentTotalPriceSet is the total after refunds and removed items (§1.1); Customer.email is
# deprecated in favour of defaultEmailAddress (2025-04, §0.6).
ORDER_FIELDS = (
    "id createdAt updatedAt cancelledAt test email sourceName displayFinancialStatus "
    "currentTotalPriceSet { shopMoney { amount currencyCode } } "
    "customer { id defaultEmailAddress { emailAddress } }"
)

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
    return datetime.fromisoformat(value)


def order_from_node(node: Mapping[str, Any], source: str) -> Order | RejectedRecord:
    gid = str(node.get("id") or "")
    position = f"order {gid_tail(gid)}" if gid else "order without an id"
    try:
        money = node["currentTotalPriceSet"]["shopMoney"]
        customer = node.get("customer") or {}
        default_email = (customer.get("defaultEmailAddress") or {}).get("emailAddress")
        if node.get("test"):
            status = OrderStatus.TEST  # "Test orders are not sales" (§1.1)
        elif node.get("cancelledAt"):
            status = OrderStatus.CANCELLED
        else:
            status = FINANCIAL_STATUS.get(str(node.get("displayFinancialStatus") or "PAID"), OrderStatus.PAID)
        return Order(
            source=source,
            order_id=gid_tail(gid),
            customer_key=gid_tail(customer["id"]) if customer.get("id") else None,
            email=default_email or node.get("email"),
            created_at=_time(node.get("createdAt")),  # type: ignore[arg-type]
            updated_at=_time(node.get("updatedAt")),
            amount=Decimal(str(money["amount"])),
            currency=str(money["currencyCode"]),
            status=status,
            channel=node.get("sourceName"),
        )
    except (KeyError, TypeError, InvalidOperation, ValueError) as exc:
        reason = f"missing or malformed {exc.args[0]!r}" if isinstance(exc, KeyError) else type(exc).__name__
        if isinstance(exc, ValidationError):
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return RejectedRecord(position, reason, {"id": gid})
