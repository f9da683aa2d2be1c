"""Shopify GraphQL Admin API calls: token, cost-based pacing, THROTTLED retries, clear errors.

Requests go through connectors/http_client.py, not ShopifyAPI's `GraphQL().execute()`: that one uses
urllib with no timeout, prints error bodies to stdout and returns a raw string (docs/platforms.md §0.8).
ShopifyAPI still provides the session and API version handling (the versioned admin path).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import shopify
from pydantic import SecretStr
from rfmsync.connectors.http_client import HttpClient
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from rfmsync.core.stopping import pause

log = logging.getLogger("rfmsync.connectors.shopify")

# Client-credentials tokens live ~24 h (docs/platforms.md §0.3); refresh with this margin left.
TOKEN_REFRESH_MARGIN = 300.0
# Throttling never fails a run by itself, but a bucket that never refills means something is wrong.
MAX_THROTTLED_IN_A_ROW = 200


def admin_path(shop: str, api_version: str) -> str:
    """`/admin/api/{version}` from ShopifyAPI's session, which validates the version string."""
    try:
        site = str(shopify.Session(shop, api_version).site)
    except Exception as exc:  # ShopifyAPI raises its own VersionNotFoundError and ValueErrors
        raise PermanentError(f"Shopify API version {api_version!r} is not valid ({type(exc).__name__}); "
                             "expected a quarterly version like 2026-10") from None
    return urlsplit(site).path


class TokenSource:
    """A static Admin API token, or one from the client-credentials grant, refreshed before expiry."""

    def __init__(self, http: HttpClient, shop: str, *, access_token: SecretStr | None = None,
                 client_id: str | None = None, client_secret: SecretStr | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._http, self._shop, self._clock = http, shop, clock
        self._static = access_token
        self._client_id, self._client_secret = client_id, client_secret
        self._token: str | None = None
        self._expires_at = 0.0
        self.exchanges = 0

    @property
    def refreshable(self) -> bool:
        return self._static is None

    def token(self) -> str:
        if self._static is not None:
            return self._static.get_secret_value()
        if self._token is None or self._clock() > self._expires_at - TOKEN_REFRESH_MARGIN:
            self._exchange()
        assert self._token is not None
        return self._token

    def invalidate(self) -> None:
        self._token = None

    def _exchange(self) -> None:
        assert self._client_id is not None and self._client_secret is not None
        # POST /admin/oauth/access_token, form grant_type=client_credentials (docs/platforms.md §0.3).
        response = self._http.request("POST", "/admin/oauth/access_token", data={
            "grant_type": "client_credentials", "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value()}, returned_statuses=(400, 401, 403, 404))
        if response.status_code == 404:
            raise PermanentError(f"Shopify: no store answers at {self._shop}; `shop` must be the store's "
                                 ".myshopify.com domain")
        if response.status_code != 200:
            raise AuthError(f"Shopify refused the client id and secret for {self._shop} "
                            f"({response.status_code}); check the app's credentials in the Dev Dashboard")
        body = _json(response)
        token, expires_in = body.get("access_token"), body.get("expires_in", 86_399)
        if not isinstance(token, str) or not token:
            raise PermanentError("Shopify: the token answer had no access_token")
        self._token = token
        self._expires_at = self._clock() + float(expires_in)
        self.exchanges += 1
        log.info("shop %s: new access token, valid %d s", self._shop, int(float(expires_in)))


@dataclass
class Bucket:
    """The last throttle status Shopify reported, restored at its rate since then."""

    maximum: float = 0.0
    available: float = 0.0
    restore_rate: float = 0.0
    seen_at: float = 0.0

    def estimate(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * (now - self.seen_at))

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` points are available: (cost - available) / restore rate (§1.3)."""
        if self.restore_rate <= 0:
            return 0.0
        missing = min(cost, self.maximum) - self.estimate(now)
        return max(0.0, missing / self.restore_rate)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"Shopify answered {response.status_code} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise TransientError("Shopify answered with JSON that is not an object")
    return body


class ShopifyGraphQL:
    """One store's GraphQL endpoint. Paces requests on the cost bucket so it is never emptied."""

    def __init__(self, http: HttpClient, shop: str, api_version: str, tokens: TokenSource, *,
                 sleep: Callable[[float], None] = pause, clock: Callable[[], float] = time.monotonic) -> None:
        self._http, self._shop, self._tokens = http, shop, tokens
        self._path = admin_path(shop, api_version) + "/graphql.json"
        self._sleep, self._clock = sleep, clock
        self.bucket = Bucket()
        self.requests = 0
        self.throttled = 0

    def execute(self, query: str, variables: Mapping[str, Any] | None, cost: float) -> dict[str, Any]:
        """`data` of the answer. `cost` is the query's worst case (requestedQueryCost)."""
        refreshed = False
        throttled_in_a_row = 0
        while True:
            wait = self.bucket.wait_for(cost, self._clock())
            if wait > 0:
                self._sleep(wait)
            self.requests += 1
            response = self._http.request(
                "POST", self._path, json={"query": query, "variables": dict(variables or {})},
                headers=lambda: {"X-Shopify-Access-Token": self._tokens.token()},
                returned_statuses=(401, 402, 403, 404, 423, 429))
            status = response.status_code
            if status == 401 and self._tokens.refreshable and not refreshed:
                self._tokens.invalidate()  # expired early or revoked: one fresh token, then give up
                refreshed = True
                continue
            self._check_status(status)
            body = _json(response)
            self._observe(body)
            errors = body.get("errors") or []
            if status == 429 or _has_code(errors, "THROTTLED"):
                # THROTTLED arrives as 200 with an errors array, or as 429 (docs/platforms.md §1.3).
                self.throttled += 1
                throttled_in_a_row += 1
                if throttled_in_a_row > MAX_THROTTLED_IN_A_ROW:
                    raise TransientError(f"Shopify {self._shop}: still throttled after {throttled_in_a_row} waits")
                requested = _requested_cost(body) or cost
                self._sleep(max(self.bucket.wait_for(requested, self._clock()), 1.0 / max(self.bucket.restore_rate, 1)))
                continue
            if errors:
                self._raise_graphql(errors)
            data = body.get("data")
            if not isinstance(data, dict):
                raise TransientError(f"Shopify {self._shop}: an answer without data")
            return data

    def _check_status(self, status: int) -> None:
        if status == 401:
            raise AuthError(f"Shopify refused the access token for {self._shop} (401): revoked, expired or "
                            "for another store")
        if status == 402:
            raise PermanentError(f"Shopify: the store {self._shop} is frozen (402 Payment Required)")
        if status == 403:
            raise AuthError(f"Shopify denied access to {self._shop} (403): the app lacks a scope it needs "
                            "(read_orders; read_all_orders for orders older than 60 days)")
        if status == 404:
            raise PermanentError(f"Shopify: no store answers at {self._shop} (404); `shop` must be the store's "
                                 ".myshopify.com domain")
        if status == 423:
            raise PermanentError(f"Shopify: the store {self._shop} is locked (423)")

    def _observe(self, body: Mapping[str, Any]) -> None:
        status = ((body.get("extensions") or {}).get("cost") or {}).get("throttleStatus")
        if isinstance(status, dict):
            self.bucket = Bucket(float(status.get("maximumAvailable", 0)), float(status.get("currentlyAvailable", 0)),
                                 float(status.get("restoreRate", 0)), self._clock())

    def _raise_graphql(self, errors: list[Any]) -> None:
        if _has_code(errors, "ACCESS_DENIED"):
            raise AuthError(f"Shopify denied {self._shop} access to orders: the app needs the read_orders scope "
                            "(and read_all_orders for orders older than 60 days)")
        codes = sorted({str((e.get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)} - {""})
        # GraphQL error messages describe the query, not customers; still, keep them short.
        first = errors[0].get("message", "") if isinstance(errors[0], dict) else ""
        raise PermanentError(f"Shopify {self._shop}: GraphQL error {', '.join(codes) or ''} {str(first)[:160]}".strip())


def _has_code(errors: Any, code: str) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == code for e in errors)


def _requested_cost(body: Mapping[str, Any]) -> float | None:
    value = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
    return float(value) if isinstance(value, int | float) else None


