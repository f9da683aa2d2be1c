"""Square orders (§3.1, §3.3) to `Order`s: integer money in the currency's smallest unit, states,
return orders as negative orders of the sale's customer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from rfmsync.core.models import OrderLine, OrderStatus

# COMPLETED is a sale; CANCELED is not; OPEN and DRAFT are not yet (§3.3).
STATES = {"COMPLETED": OrderStatus.PAID, "CANCELED": OrderStatus.CANCELLED, "OPEN": OrderStatus.OPEN,
          "DRAFT": OrderStatus.OPEN}
# ISO 4217 minor units other than 2 among the currencies Square takes money in (its Money.amount is
# in the smallest unit: cents, or yen).
MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "XAF": 0, "XOF": 0, "BHD": 3, "KWD": 3, "OMR": 3,
               "JOD": 3, "TND": 3}


def money(value: Mapping[str, Any] | None) -> tuple[Decimal, str] | None:
    if not value or value.get("amount") is None or not value.get("currency"):
        return None
    currency = str(value["currency"]).upper()
    return Decimal(int(value["amount"])).scaleb(-MINOR_UNITS.get(currency, 2)), currency


def when(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise KeyError(field)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{field} without a time zone")
    return parsed


def source_order_id(node: Mapping[str, Any]) -> str | None:
    """The sale a return order returns (§3.3), or None for a sale."""
    for item in node.get("returns") or []:
        if isinstance(item, dict) and item.get("source_order_id"):
            return str(item["source_order_id"])
    return None


def net_amount(node: Mapping[str, Any]) -> tuple[Decimal, str]:
    """A sale's total; a return order's returned total, negative (an exchange: what was bought
    less what was returned)."""
    total = money(node.get("total_money"))
    returned = money((node.get("return_amounts") or {}).get("total_money"))
    if source_order_id(node) is not None:
        if returned is None:
            raise KeyError("return_amounts")
        sold = total[0] if total is not None and total[1] == returned[1] else Decimal(0)
        return sold - returned[0], returned[1]
    if total is None:
        raise KeyError("total_money")
    return total


def catalog_ids(nodes: Sequence[Mapping[str, Any]]) -> set[str]:
    """The item variations the orders' sold and returned lines name."""
    return {str(line["catalog_object_id"]) for node in nodes for line in _lines(node) if line.get("catalog_object_id")}


def _lines(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    sold = [line for line in node.get("line_items") or [] if isinstance(line, dict)]
    returned = [line for item in node.get("returns") or [] if isinstance(item, dict)
                for line in item.get("return_line_items") or [] if isinstance(line, dict)]
    return sold + [{**line, "_returned": True} for line in returned]


def lines_of(node: Mapping[str, Any], categories_of: Callable[[str], Sequence[str]]) -> tuple[OrderLine, ...]:
    """Sold lines at their total (after discounts, with tax, as the order's total), returned lines
    negative; only lines whose product has a category (the others match no category filter)."""
    lines = []
    for line in _lines(node):
        names = tuple(categories_of(str(line.get("catalog_object_id") or ""))) if line.get("catalog_object_id") else ()
        amount = money(line.get("total_money"))
        if names and amount is not None:
            lines.append(OrderLine(categories=names, amount=-amount[0] if line.get("_returned") else amount[0]))
    return tuple(lines)


def item_categories(item: Mapping[str, Any] | None) -> list[str]:
    data = (item or {}).get("item_data") or {}
    ids = [str(c["id"]) for c in data.get("categories") or [] if isinstance(c, dict) and c.get("id")]
    if not ids and data.get("category_id"):
        ids = [str(data["category_id"])]
    return ids


def category_name(category: Mapping[str, Any]) -> str:
    return str((category.get("category_data") or {}).get("name") or "").strip()
