"""Signatures of incoming order webhooks (issue 14): each platform's HMAC-SHA256 over the raw
body, base64, compared in constant time, before the body is parsed or anything of it is logged.

- Shopify: `X-Shopify-Hmac-SHA256` = base64(HMAC-SHA256(app client secret, raw body)); for up
  to an hour after a rotation the previous secret may still sign (docs/platforms.md §1.6, §10.2).
- WooCommerce: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)), the secret
  HTML-entity decoded first (`wp_specialchars_decode`, §2.3); its creation ping carries no
  signature and a form body `webhook_id=N`, and must be answered 200.
- Square: `x-square-hmacsha256-signature` = base64(HMAC-SHA256(signature key, notification URL +
  raw body)); the URL exactly as registered on Square's side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_WOO_PING = re.compile(rb"^webhook_id=\d+$")


def json_object(body: bytes) -> dict[str, Any] | None:
    """A verified body as a JSON object, or None (a reject, never an exception with the body in it)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _signed(key: bytes, message: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _matches(expected: bytes, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected, given.strip().encode("ascii", "replace"))


def shopify_valid(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
    """True when one of the secrets (the current one, the previous during a rotation) signed the body."""
    given = _header(headers, "X-Shopify-Hmac-SHA256")
    return any(_matches(_signed(s.encode(), body), given) for s in secrets if s)


def woocommerce_valid(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    return bool(secret) and _matches(_signed(html.unescape(secret).encode(), body),
                                     _header(headers, "X-WC-Webhook-Signature"))


def woocommerce_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """WooCommerce's creation ping: unsigned, `webhook_id=N` as a form; answered 200, changes nothing."""
    return _header(headers, "X-WC-Webhook-Signature") is None and bool(_WOO_PING.match(body.strip()))


def square_valid(headers: Mapping[str, str], body: bytes, signature_key: str, notification_url: str) -> bool:
    return bool(signature_key) and _matches(_signed(signature_key.encode(), notification_url.encode() + body),
                                            _header(headers, "x-square-hmacsha256-signature"))
