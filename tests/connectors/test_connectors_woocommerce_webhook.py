"""WooCommerce order webhooks: signed like class-wc-webhook.php, the ping, a version as the event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from rfmsync.connectors.woocommerce.webhook import delivery
from rfmsync.core.errors import AuthError

SECRET = "s3cr&amp;t"  # stored entity-encoded; WooCommerce signs with "s3cr&t"
ORDER = {"id": 727, "status": "completed", "currency": "EUR", "total": "54.00", "customer_id": 0,
         "date_created_gmt": "2026-10-30T09:00:00", "date_modified_gmt": "2026-10-31T08:00:00",
         "billing": {"email": " Guest@Example.com ", "phone": ""}, "created_via": "checkout",
         "refunds": [{"id": 9, "reason": "", "total": "-4.00"}], "line_items": []}


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(b"s3cr&t", body, hashlib.sha256).digest()
    return {"X-WC-Webhook-Signature": base64.b64encode(digest).decode(), "X-WC-Webhook-Topic": "order.updated"}


def test_a_signed_order_is_mapped_as_a_pull_maps_it_and_its_version_is_the_event() -> None:
    body = json.dumps(ORDER).encode()
    got = delivery(signed(body), body, "woo", SECRET)
    assert got.event_id == "727@2026-10-31T08:00:00" and not got.ping
    order = got.orders[0]
    assert (order.order_id, order.customer_key, order.amount, order.channel) == (
        "727", "email:guest@example.com", Decimal("50.00"), "web")


def test_the_ping_is_answered_and_a_bad_signature_refused() -> None:
    assert delivery({"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=12", "woo", SECRET).ping
    body = json.dumps(ORDER).encode()
    with pytest.raises(AuthError):
        delivery({"X-WC-Webhook-Signature": "AAAA"}, body, "woo", SECRET)
    deleted = b'{"id": 727}'
    assert delivery(signed(deleted), deleted, "woo", SECRET).orders == ()
