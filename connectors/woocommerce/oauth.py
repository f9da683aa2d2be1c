"""OAuth 1.0a one-legged signing, which WooCommerce requires over plain HTTP (§2.1): HMAC-SHA256
of the request (method, URL, sorted parameters), keyed with the consumer secret (RFC 5849 §3.4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote


def _encode(value: str) -> str:
    return quote(value, safe="-._~")


def signature_base(method: str, url: str, params: Mapping[str, str]) -> str:
    pairs = sorted((_encode(k), _encode(v)) for k, v in params.items())
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join([method.upper(), _encode(url), _encode(normalized)])


def sign(method: str, url: str, params: Mapping[str, str], consumer_secret: str) -> str:
    key = f"{_encode(consumer_secret)}&".encode()
    digest = hmac.new(key, signature_base(method, url, params).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_params(method: str, url: str, params: Mapping[str, str], consumer_key: str, consumer_secret: str,
                  *, clock: Callable[[], float] = time.time) -> dict[str, str]:
    """`params` plus the oauth_* parameters and the signature; `url` without its query string."""
    oauth = {"oauth_consumer_key": consumer_key, "oauth_nonce": secrets.token_hex(16),
             "oauth_signature_method": "HMAC-SHA256", "oauth_timestamp": str(int(clock())), "oauth_version": "1.0"}
    merged = {**params, **oauth}
    return {**merged, "oauth_signature": sign(method, url, merged, consumer_secret)}
