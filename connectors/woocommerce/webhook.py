"""WooCommerce `order.created` / `order.updated` webhooks (docs/platforms.md §2.3): verified on the
raw body with the entity-decoded secret; the body is the REST order, mapped as pulls map it.

WooCommerce never retries a failed delivery (five failures disable the webhook), and its delivery
id is not stable: the event is the order's version, "<order id>@<date_modified_gmt>", so the same
version delivered twice (a webhook created twice) has one effect. The creation ping (unsigned,
`webhook_id=N`) is answered as a ping. Line categories come from the next pull, which looks the
products up.
"""

from __future__ import annotations

from collections.abc import Mapping

from rfmsync.connectors.base import RejectedRecord, WebhookDelivery
from rfmsync.connectors.webhook_signatures import json_object, woocommerce_ping, woocommerce_valid
from rfmsync.connectors.woocommerce.mapping import order_from
from rfmsync.core.errors import AuthError
from rfmsync.core.models import Order


def delivery(headers: Mapping[str, str], body: bytes, source: str, secret: str) -> WebhookDelivery:
    if woocommerce_ping(headers, body):
        return WebhookDelivery("ping", ping=True)
    if not woocommerce_valid(headers, body, secret):
        raise AuthError("WooCommerce webhook: missing or wrong X-WC-Webhook-Signature", origin="woocommerce",
                        status=401)
    payload = json_object(body)
    if payload is None:
        return WebhookDelivery("unreadable", rejects=[RejectedRecord("webhook body", "not a JSON object")])
    event = f"{payload.get('id')}@{payload.get('date_modified_gmt')}"
    if set(payload) == {"id"}:  # order.deleted carries the id only: nothing to score
        return WebhookDelivery(event)
    mapped = order_from(payload, source)
    if isinstance(mapped, Order):
        return WebhookDelivery(event, orders=[mapped])
    return WebhookDelivery(event, rejects=[mapped])
