"""WooCommerce source: REST v3 orders by `modified_after`, oldest change first (docs/platforms.md §2).

- `GET /wp-json/wc/v3/orders?modified_after=..&dates_are_gmt=true&orderby=modified&order=asc
  &per_page=100&status=any`, following the `Link` header's next page; a page's resume point is the
  next page number of that pull (the run loop keeps `since` until the pull is complete).
- WooCommerce before `modified_after` existed (about 5.8, 2021) ignores it without a word and
  returns every order: checked once per process by asking for orders modified after the year 2999;
  a store that answers with any says so, instead of every run pulling the whole shop.
- Auth: Basic with the consumer key and secret over HTTPS; over HTTP (only with `allow_http`)
  OAuth 1.0a, a fresh signature per attempt (WooCommerce refuses a nonce it has seen).
- The WooCommerce SDK is not used: module-level requests, no retry, keys twice in HTTP URLs (§2.5).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from rfmsync.connectors.base import OrderPage, RejectedRecord, SinkMemory, SourceCursor
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.lookup_cache import LookupCache
from rfmsync.connectors.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after, retrying
from rfmsync.connectors.woocommerce import oauth
from rfmsync.connectors.woocommerce.config import MAX_PER_PAGE, WooCommerceSourceConfig
from rfmsync.connectors.woocommerce.mapping import order_from, product_ids
from rfmsync.core.errors import PermanentError, TransientError
from rfmsync.core.models import Order
from tenacity import RetryCallState

log = logging.getLogger("rfmsync.connectors.woocommerce")
ORDERS = "/wp-json/wc/v3/orders"
PRODUCTS = "/wp-json/wc/v3/products"
FAR_FUTURE = "2999-01-01T00:00:00"


class _Again(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response
        self.retry_after = parse_retry_after(response.headers.get("Retry-After"))


def _gmt(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WooCursor(SourceCursor):
    """The next page of a pull over orders modified after `since`; page None: that pull finished.
    A cursor of another `since` (the next run's) is not resumed: that pull starts at page 1."""

    since: str | None
    page: int | None


class WooCommerceSource:
    cursor_model = WooCursor

    def __init__(self, config: WooCommerceSourceConfig, *, retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._clock = clock
        key, secret = config.consumer_key.get_secret_value(), config.consumer_secret.get_secret_value()
        headers = {} if config.is_http else {
            "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
        self.http = HttpClient(config.site, headers=headers, retry=self.retry, timeout=(5.0, config.timeout_seconds),
                               origin="woocommerce")
        self._checked = False
        self._categories = LookupCache("product", config.product_cache_days, clock,
                                       optional="orders are read without line categories")

    @property
    def name(self) -> str:
        return self.config.name or f"woocommerce:{urlsplit(self.config.site).hostname}"

    def close(self) -> None:
        self.http.close()

    def attach_memory(self, memory: SinkMemory) -> None:
        self._categories.memory = memory

    def pull(self, since: datetime | None, until: datetime, cursor: WooCursor | None) -> Iterator[OrderPage]:
        params = {"per_page": str(self.config.per_page), "orderby": "modified", "order": "asc",
                  "dates_are_gmt": "true", "status": "any"}
        after = None
        if since is not None:
            self._check_modified_after()
            # WordPress's date query is exclusive and WooCommerce dates have whole seconds: one second
            # earlier keeps an order modified exactly at `since`.
            after = params["modified_after"] = _gmt(since - timedelta(seconds=1))
        # No modified_before: an order changed during the run is read now and again after the look-back.
        page = 1
        if cursor is not None and cursor.since == after:
            if cursor.page is None:
                return  # that pull finished
            page = cursor.page
        while True:
            response = self._get(ORDERS, {**params, "page": str(page)})
            items = self._items(response)
            self._categories.load(sorted(product_ids(items)), self._fetch_categories, MAX_PER_PAGE)
            mapped = [order_from(node, self.name, lambda p: self._categories.get(p) or ()) for node in items]
            orders = [m for m in mapped if isinstance(m, Order)]
            rejects = [m for m in mapped if isinstance(m, RejectedRecord)]
            following = self._next_page(response, page)
            total = response.headers.get("X-WP-Total") or ""
            yield OrderPage(orders, rejects, cursor=WooCursor(since=after, page=following),
                            expected=int(total) if total.isdigit() else None)
            if following is None:
                return
            page = following

    def _fetch_categories(self, ids: Sequence[str]) -> dict[str, Any]:
        """Category names of each product (a variation's line names its parent product). A product
        deleted since is not answered for: its lines have no category."""
        try:
            response = self._get(PRODUCTS, {"include": ",".join(ids), "per_page": str(len(ids)), "status": "any"})
        except PermanentError as exc:
            raise PermanentError(f"WooCommerce: the products of the orders' lines could not be read (HTTP "
                                 f"{exc.status})", origin="woocommerce", status=exc.status) from None
        return {str(p["id"]): [str(c.get("name") or "") for c in p.get("categories") or [] if isinstance(c, dict)]
                for p in self._items(response) if p.get("id")}

    def _check_modified_after(self) -> None:
        if self._checked:
            return
        response = self._get(ORDERS, {"per_page": "1", "modified_after": FAR_FUTURE, "dates_are_gmt": "true",
                                      "status": "any"})
        if self._items(response) or int(response.headers.get("X-WP-Total") or 0) > 0:
            raise PermanentError(f"WooCommerce at {self.config.site} ignores modified_after (it came with "
                                 "WooCommerce 5.8, 2021): every run would read the whole shop. Update WooCommerce; "
                                 "`rfmsync backfill` still reads everything once", origin="woocommerce")
        self._checked = True

    @staticmethod
    def _items(response: requests.Response) -> list[Mapping[str, Any]]:
        try:
            body = response.json()
        except ValueError:
            raise TransientError("WooCommerce: an answer that is not JSON (a caching plugin or a login page in "
                                 "front of the API?)", origin="woocommerce") from None
        if not isinstance(body, list):
            raise TransientError("WooCommerce: the orders answer is not a list", origin="woocommerce")
        return [item for item in body if isinstance(item, dict)]

    @staticmethod
    def _next_page(response: requests.Response, page: int) -> int | None:
        following = (response.links.get("next") or {}).get("url")
        if following:
            number = parse_qs(urlsplit(following).query).get("page", [""])[0]
            return int(number) if number.isdigit() and int(number) > page else None
        total = response.headers.get("X-WP-TotalPages")
        return page + 1 if total and total.isdigit() and int(total) > page else None

    def _get(self, path: str, params: dict[str, str]) -> requests.Response:
        url = f"{self.config.site}{path}"
        key, secret = self.config.consumer_key.get_secret_value(), self.config.consumer_secret.get_secret_value()

        def attempt() -> requests.Response:
            query = oauth.signed_params("GET", url, params, key, secret, clock=self._clock) if self.config.is_http \
                else params
            response = self.http.request("GET", url, params=query, returned_statuses=RETRY_STATUSES | {404})
            if response.status_code in RETRY_STATUSES:
                raise _Again(response)
            if response.status_code == 404:
                raise PermanentError(f"WooCommerce: no REST API at {self.config.site}/wp-json/wc/v3 (404): check "
                                     "site, and that pretty permalinks are on", origin="woocommerce", status=404)
            return response

        def log_wait(state: RetryCallState) -> None:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            status = exc.response.status_code if isinstance(exc, _Again) else "?"
            log.warning("WooCommerce: HTTP %s; attempt %d of %d", status, state.attempt_number, self.retry.max_attempts)

        try:
            return retrying(self.retry, lambda exc: isinstance(exc, _Again), log_wait)(attempt)
        except _Again as exc:
            raise TransientError(f"WooCommerce: HTTP {exc.response.status_code} after {self.retry.max_attempts} "
                                 "attempts", origin="woocommerce", status=exc.response.status_code) from None
