"""WooCommerce REST v3 orders (§2.2) to `Order`s."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from rfmsync.connectors.base import RejectedRecord
from rfmsync.connectors.channels import woocommerce_channel
from rfmsync.core.models import Order, OrderLine, OrderStatus, normalize_email

# completed and processing are sales; cancelled, failed and refunded are not; pending and on-hold
# (and the newer checkout-draft) are not yet (§2.2, the business rule).
STATUSES = {
    "completed": OrderStatus.PAID, "processing": OrderStatus.PAID,
    "refunded": OrderStatus.REFUNDED, "cancelled": OrderStatus.CANCELLED, "failed": OrderStatus.VOIDED,
    "trash": OrderStatus.VOIDED, "pending": OrderStatus.OPEN, "on-hold": OrderStatus.OPEN,
    "checkout-draft": OrderStatus.OPEN, "draft": OrderStatus.OPEN,
}
_MAX_AMOUNT = Decimal(10) ** 12
_UNIT = Decimal("0.0001")  # core.batch.MONEY_SCALE


def _gmt(value: Any) -> datetime:
    """WooCommerce's *_gmt fields: ISO 8601 without an offset, in UTC."""
    if not isinstance(value, str) or not value:
        raise KeyError("date_created_gmt")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _money(value: Any) -> Decimal:
    amount = Decimal(str(value))
    if not amount.is_finite() or abs(amount) >= _MAX_AMOUNT:
        raise ValueError("an amount that is not a finite number below 10^12")
    return amount


def product_ids(nodes: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(line["product_id"]) for node in nodes for line in node.get("line_items") or []
            if isinstance(line, dict) and line.get("product_id")}


def lines_of(node: Mapping[str, Any], categories_of: Callable[[str], Sequence[str]], refunded: Decimal,
             ) -> tuple[OrderLine, ...]:
    """Each line at its total with its tax (after discounts); the order's refunds, which the order
    does not break down by line, taken from the lines in proportion (§2.2). Only lines whose
    product has a category are kept (the others match no category filter)."""
    priced = []
    for line in node.get("line_items") or []:
        if isinstance(line, dict):
            names = tuple(categories_of(str(line.get("product_id") or "")))
            priced.append((names, _money(line.get("total") or 0) + _money(line.get("total_tax") or 0)))
    gross = sum((amount for _, amount in priced), Decimal(0))
    kept = Decimal(1) - min(refunded / gross, Decimal(1)) if gross > 0 and refunded > 0 else Decimal(1)
    return tuple(OrderLine(categories=names, amount=(amount * kept).quantize(_UNIT))
                 for names, amount in priced if names)


def order_from(node: Mapping[str, Any], source: str,
               categories_of: Callable[[str], Sequence[str]] = lambda product: ()) -> Order | RejectedRecord:
    order_id = str(node.get("id") or "")
    try:
        billing = node.get("billing") or {}
        email = str(billing.get("email") or "").strip() or None
        customer = int(node.get("customer_id") or 0)
        # Guests are keyed by their normalized billing email, as the ledger keys guests it merges.
        key = str(customer) if customer > 0 else (f"email:{normalize_email(email)}" if email else None)
        status = STATUSES.get(str(node.get("status") or ""))
        if status is None:
            raise ValueError(f"unknown status {str(node.get('status'))[:30]!r}")
        # `total` is before refunds; each refund's total is a negative string (§2.2).
        refunds = sum((_money(r.get("total") or 0) for r in node.get("refunds") or []), Decimal(0))
        amount = _money(node["total"]) + refunds
        categories = lines_of(node, categories_of, -refunds)
        modified = node.get("date_modified_gmt")
        phone = str(billing.get("phone") or "").strip() or None
        via = str(node.get("created_via") or "").strip() or None
        return Order(source=source, order_id=order_id, customer_key=key, email=email, phone=phone,
                     created_at=_gmt(node.get("date_created_gmt")),
                     updated_at=_gmt(modified) if modified else None, amount=amount,
                     currency=str(node.get("currency") or ""), status=status,
                     channel=woocommerce_channel(via), channel_detail=via, lines=categories)
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except KeyError as exc:
        reason = f"missing or malformed {exc.args[0]!r}"
    except (ValueError, TypeError, InvalidOperation, AttributeError) as exc:
        reason = str(exc)[:120] if isinstance(exc, ValueError) and "status" in str(exc) else type(exc).__name__
    return RejectedRecord(f"order {order_id}" if order_id else "order without an id", reason, {"id": order_id})
