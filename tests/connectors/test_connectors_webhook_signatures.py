"""Webhook signatures as each platform computes them (issue 14's first step): valid, tampered,
missing, the wrong secret, a rotation, WooCommerce's entity-decoded secret and its ping."""

from __future__ import annotations

import base64
import hashlib
import hmac

from rfmsync.connectors.webhook_signatures import shopify_valid, square_valid, woocommerce_ping, woocommerce_valid

BODY = b'{"id":820982911946154508,"updated_at":"2026-11-01T04:00:00-05:00","current_total_price":"20.00"}'


def sign(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def test_shopify_signs_the_raw_body_with_the_client_secret_and_a_rotation_keeps_the_old_one() -> None:
    headers = {"x-shopify-hmac-sha256": sign("old-secret", BODY)}  # header names in any case
    assert shopify_valid(headers, BODY, ["new-secret", "old-secret"])
    assert not shopify_valid(headers, BODY, ["new-secret"])
    assert not shopify_valid(headers, BODY + b" ", ["old-secret"])  # one byte more: refused
    assert not shopify_valid({}, BODY, ["old-secret"]) and not shopify_valid(headers, BODY, [""])


def test_woocommerce_decodes_html_entities_in_the_secret_and_answers_its_ping() -> None:
    secret = "a&amp;b&quot;c"  # as WordPress stores it; WooCommerce signs with a&b"c
    headers = {"X-WC-Webhook-Signature": sign('a&b"c', BODY)}
    assert woocommerce_valid(headers, BODY, secret)
    assert not woocommerce_valid({"X-WC-Webhook-Signature": sign(secret, BODY)}, BODY, secret)
    assert woocommerce_ping({"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=42")
    assert not woocommerce_ping(headers, b"webhook_id=42") and not woocommerce_ping({}, BODY)


def test_square_signs_the_notification_url_and_the_body() -> None:
    url = "https://rfm.example.com/webhooks/shop/pos"
    headers = {"X-Square-HmacSha256-Signature": sign("sig-key", url.encode() + BODY)}
    assert square_valid(headers, BODY, "sig-key", url)
    assert not square_valid(headers, BODY, "sig-key", url + "/")  # the URL exactly as registered
    assert not square_valid({"X-Square-HmacSha256-Signature": sign("sig-key", BODY)}, BODY, "sig-key", url)
