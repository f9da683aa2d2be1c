"""Shopify `orders/create` and `orders/updated` webhooks (docs/platforms.md §1.6, §10): verified on
the raw body, then the REST order resource read as the GraphQL node the pulls map, so a webhook and
a pull of the same order version store the same order.

The REST body names what GraphQL names in camelCase, with numeric ids beside `admin_graphql_api_id`
and lower-case enums (financial_status "paid", marketing consent state "subscribed"). Line
categories are not in the payload (its line items carry product ids only): the next pull with
`line_categories` reads them for the same version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rfmsync.connectors.base import RejectedRecord, WebhookDelivery
from rfmsync.connectors.shopify.mapping import order_from_node
from rfmsync.connectors.webhook_signatures import json_object, shopify_valid
from rfmsync.core.errors import AuthError
from rfmsync.core.models import Order


def _consent(holder: Any) -> str | None:
    state = (holder or {}).get("state") if isinstance(holder, dict) else None
    return str(state).upper() if state else None


def node_from_rest(order: Mapping[str, Any]) -> dict[str, Any]:
    """The REST order resource in the shape of the GraphQL node (mapping.ORDER_FIELDS)."""
    money = ((order.get("current_total_price_set") or {}).get("shop_money") or {})
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else None
    node: dict[str, Any] = {
        "id": order.get("admin_graphql_api_id") or f"gid://shopify/Order/{order.get('id')}",
        "createdAt": order.get("created_at"), "updatedAt": order.get("updated_at"),
        "cancelledAt": order.get("cancelled_at"), "test": bool(order.get("test")), "email": order.get("email"),
        "sourceName": order.get("source_name"),
        "displayFinancialStatus": str(order.get("financial_status") or "paid").upper(),
        "currentTotalPriceSet": {"shopMoney": {
            "amount": money.get("amount", order.get("current_total_price")),
            "currencyCode": money.get("currency_code", order.get("currency"))}},
        "customer": None,
    }
    if customer is not None:
        node["customer"] = {
            "id": customer.get("admin_graphql_api_id") or f"gid://shopify/Customer/{customer.get('id')}",
            "defaultEmailAddress": {"emailAddress": customer.get("email"),
                                    "marketingState": _consent(customer.get("email_marketing_consent"))}
            if customer.get("email") else None,
            "defaultPhoneNumber": {"phoneNumber": customer.get("phone"),
                                   "marketingState": _consent(customer.get("sms_marketing_consent"))}
            if customer.get("phone") else None,
        }
    return node


def delivery(headers: Mapping[str, str], body: bytes, source: str, secrets: Sequence[str]) -> WebhookDelivery:
    """The verified delivery's event and order; AuthError (nothing of the body in it) when unsigned."""
    if not shopify_valid(headers, body, secrets):
        raise AuthError("Shopify webhook: missing or wrong X-Shopify-Hmac-SHA256", origin="shopify", status=401)
    wanted = {k.lower(): v for k, v in headers.items()}
    event = wanted.get("x-shopify-event-id") or wanted.get("x-shopify-webhook-id") or ""
    payload = json_object(body)
    if payload is None:
        return WebhookDelivery(event, rejects=[RejectedRecord("webhook body", "not a JSON object")])
    mapped = order_from_node(node_from_rest(payload), source)
    if isinstance(mapped, Order):
        return WebhookDelivery(event or f"order {mapped.order_id} {payload.get('updated_at')}", orders=[mapped])
    return WebhookDelivery(event, rejects=[mapped])
