"""Shopify order webhooks: a signed REST payload becomes the order a GraphQL pull of the same
version gives; a wrong signature is refused without a word of the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from rfmsync.connectors.shopify.mapping import order_from_node
from rfmsync.connectors.shopify.webhook import delivery
from rfmsync.core.errors import AuthError
from rfmsync.core.models import OrderStatus

SECRET = "shpss_client_secret"
PAYLOAD = {
    "id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
    "created_at": "2026-10-30T10:00:00-04:00", "updated_at": "2026-10-31T09:30:00-04:00", "cancelled_at": None,
    "test": False, "email": "ada@example.com", "source_name": "pos", "financial_status": "partially_refunded",
    "currency": "EUR", "current_total_price": "35.00",
    "current_total_price_set": {"shop_money": {"amount": "35.00", "currency_code": "EUR"},
                                "presentment_money": {"amount": "38.00", "currency_code": "USD"}},
    "customer": {"id": 115310627314723954, "admin_graphql_api_id": "gid://shopify/Customer/115310627314723954",
                 "email": "ada@example.com", "phone": "+4915112345678",
                 "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
                 "sms_marketing_consent": {"state": "not_subscribed"}},
    "line_items": [{"product_id": 632910392, "price": "40.00", "quantity": 1}],
}


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Shopify-Hmac-SHA256": base64.b64encode(digest).decode(),
            "X-Shopify-Topic": "orders/updated", "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5"}


def test_a_signed_rest_order_is_the_order_a_pull_of_the_same_version_gives() -> None:
    body = json.dumps(PAYLOAD).encode()
    got = delivery(signed(body), body, "web", [SECRET])
    assert got.event_id == "98880550-7158-44d4-b7cd-2c97c8a091b5" and not got.rejects
    order = got.orders[0]
    assert (order.order_id, order.customer_key, order.amount, order.currency, order.status) == (
        "820982911946154508", "115310627314723954", Decimal("35.00"), "EUR", OrderStatus.PARTIALLY_REFUNDED)
    assert (order.channel, order.channel_detail, order.email_consent, order.sms_consent) == ("pos", "pos", True, False)
    pulled = order_from_node({
        "id": "gid://shopify/Order/820982911946154508", "createdAt": "2026-10-30T14:00:00Z",
        "updatedAt": "2026-10-31T13:30:00Z", "cancelledAt": None, "test": False, "email": "ada@example.com",
        "sourceName": "pos", "displayFinancialStatus": "PARTIALLY_REFUNDED",
        "currentTotalPriceSet": {"shopMoney": {"amount": "35.00", "currencyCode": "EUR"}},
        "customer": {"id": "gid://shopify/Customer/115310627314723954",
                     "defaultEmailAddress": {"emailAddress": "ada@example.com", "marketingState": "SUBSCRIBED"},
                     "defaultPhoneNumber": {"phoneNumber": "+4915112345678", "marketingState": "NOT_SUBSCRIBED"}}},
        "web")
    assert order == pulled


def test_a_wrong_or_missing_signature_is_refused_and_a_bad_body_is_a_reject() -> None:
    body = json.dumps(PAYLOAD).encode()
    for headers in (signed(body, "another secret"), {}, signed(body + b" ")):
        with pytest.raises(AuthError) as caught:
            delivery(headers, body, "web", [SECRET])
        assert "ada@" not in str(caught.value) and caught.value.status == 401
    broken = b'{"id": 1, "created_at": "yesterday"}'
    got = delivery(signed(broken), broken, "web", [SECRET])
    assert not got.orders and len(got.rejects) == 1
