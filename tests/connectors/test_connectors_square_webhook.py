"""Square order notifications: signed over URL and body, the order then read whole from the fake."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fake_square import TOKEN, FakeSquare
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.square.config import SquareSourceConfig
from rfmsync.connectors.square.source import SquareSource
from rfmsync.core.errors import AuthError

URL = "https://rfm.example.com/webhooks/shop/pos"
KEY = "sq-signature-key"
NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def square() -> Iterator[FakeSquare]:
    with FakeSquare() as fake:
        fake.add_customer("C1", email="ada@example.com")
        fake.add_order("S1", location="L1", customer="C1", cents=2_500, created=NOW)
        yield fake


def notification(order_id: str) -> bytes:
    return json.dumps({"merchant_id": "M1", "type": "order.updated", "event_id": "e-6e6f", "data": {
        "type": "order_updated", "id": order_id, "object": {"order_updated": {
            "order_id": order_id, "state": "COMPLETED", "version": 2, "location_id": "L1"}}}}).encode()


def signed(body: bytes, url: str = URL) -> dict[str, str]:
    digest = hmac.new(KEY.encode(), url.encode() + body, hashlib.sha256).digest()
    return {"x-square-hmacsha256-signature": base64.b64encode(digest).decode()}


def source(square: FakeSquare) -> SquareSource:
    return SquareSource(SquareSourceConfig.model_validate({"type": "square", "name": "pos", "access_token": TOKEN,
                                                           "base_url": square.base_url}),
                        retry=RetryPolicy(max_attempts=2, base_delay=0.01))


def test_a_signed_notification_brings_the_whole_order_with_its_customer(square: FakeSquare) -> None:
    body = notification("S1")
    got = source(square).webhook_delivery(signed(body), body, KEY, URL)
    assert got.event_id == "e-6e6f" and not got.rejects
    order = got.orders[0]
    assert (order.order_id, order.customer_key, order.email, order.amount) == ("S1", "C1", "ada@example.com",
                                                                                Decimal("25.00"))


def test_a_signature_over_another_url_is_refused_before_anything_is_fetched(square: FakeSquare) -> None:
    body = notification("S1")
    with pytest.raises(AuthError):
        source(square).webhook_delivery(signed(body, URL + "?x=1"), body, KEY, URL)
    assert square.received == 0
