"""A loopback fake of WooCommerce's REST v3 orders endpoint (docs/platforms.md §2), on the kit.

    with FakeWooCommerce() as woo:                    # key ck_fake / secret cs_fake, over http://
        woo.add_order(id=1, customer_id=7, email="ada@example.com", total="20.00", modified=..., created=...)

Strict where WooCommerce is: `page`, `per_page` 1-100 (else 400 rest_invalid_param), `orderby=modified`,
`order`, `modified_after`/`modified_before` read as GMT only with `dates_are_gmt=true` (else in the
site's zone, here UTC+2), `X-WP-Total`, `X-WP-TotalPages` and a `Link` header with rel="next".
Over plain HTTP it wants OAuth 1.0a (HMAC-SHA256 or -SHA1 signature over the request, a nonce used
once); Basic auth is refused there, as WooCommerce does. `ignores_modified_after=True` plays an
older store that returns every order whatever the filter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

KEY, SECRET = "ck_fake", "cs_fake"
SITE_OFFSET = timedelta(hours=2)  # the site's own time zone, for the non-GMT dates


def _encode(value: str) -> str:
    return quote(value, safe="-._~")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class FakeWooCommerce(FakePlatform):
    name = "fake_woocommerce"

    def __init__(self, *, ignores_modified_after: bool = False) -> None:
        super().__init__()
        self.ignores_modified_after = ignores_modified_after
        self.orders: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.nonces: set[str] = set()
        self._sorted: dict[tuple[str, bool], list[dict[str, Any]]] = {}  # cleared on every change
        self.route("GET", "/wp-json/wc/v3/orders", "orders", self._orders)
        self.route("GET", "/wp-json/wc/v3/products", "products", self._products)

    def add_product(self, product_id: int, *categories: str) -> None:
        with self.lock:
            self.products[product_id] = {"id": product_id, "name": f"Product {product_id}", "categories": [
                {"id": 100 + i, "name": name, "slug": name.lower()} for i, name in enumerate(categories)]}

    def add_order(self, *, id: int, total: str, created: datetime, modified: datetime | None = None,
                  customer_id: int = 0, email: str | None = None, phone: str | None = None, status: str = "completed",
                  currency: str = "EUR", refunds: tuple[str, ...] = (), created_via: str = "checkout",
                  lines: tuple[tuple[int, str, str], ...] = ()) -> None:
        """`lines`: (product id, total, total_tax) each, strings as WooCommerce sends them."""
        with self.lock:
            self._sorted.clear()
            self.orders[id] = {
                "id": id, "parent_id": 0, "number": str(id), "status": status, "currency": currency,
                "date_created": _iso(created + SITE_OFFSET), "date_created_gmt": _iso(created),
                "date_modified": _iso((modified or created) + SITE_OFFSET),
                "date_modified_gmt": _iso(modified or created), "total": total, "customer_id": customer_id,
                "billing": {"email": email or "", "phone": phone or ""}, "created_via": created_via,
                "refunds": [{"id": id * 100 + i, "reason": "", "total": f"-{r}"} for i, r in enumerate(refunds)],
                "line_items": [{"id": id * 10 + i, "product_id": product, "variation_id": 0, "quantity": 1,
                                "subtotal": total, "total": total, "total_tax": tax}
                               for i, (product, total, tax) in enumerate(lines)]}

    def modify(self, order_id: int, when: datetime, **fields: Any) -> None:
        with self.lock:
            self._sorted.clear()
            self.orders[order_id].update(fields)
            self.orders[order_id]["date_modified_gmt"] = _iso(when)
            self.orders[order_id]["date_modified"] = _iso(when + SITE_OFFSET)

    def snapshot(self) -> Any:
        with self.lock:
            return {i: dict(o) for i, o in self.orders.items()}

    # -- the kit -----------------------------------------------------------------------------------
    def authorize(self, request: Request, kind: str) -> Reply | None:
        query = request.query
        if "oauth_signature" not in query:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is missing.")
        if query.get("oauth_consumer_key") != KEY:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        method = query.get("oauth_signature_method")
        algorithm = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}.get(method or "")
        if algorithm is None:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid signature method.")
        params = [(k, v) for k, v in parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
                  if k != "oauth_signature"]
        normalized = "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in params))
        base = "&".join(["GET", _encode(f"{self.base_url}{request.path}"), _encode(normalized)])
        expected = base64.b64encode(hmac.new(f"{_encode(SECRET)}&".encode(), base.encode(), algorithm).digest())
        if not hmac.compare_digest(expected.decode(), query["oauth_signature"]):
            return _error(401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature "
                          "does not match.")
        if query.get("oauth_nonce", "") in self.nonces:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been "
                          "used.")
        self.nonces.add(query.get("oauth_nonce", ""))
        return None

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        reply = _error(status, "internal_server_error", "error")
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    # -- routes ------------------------------------------------------------------------------------
    def _orders(self, request: Request, groups: dict[str, str]) -> Reply:
        query = request.query
        per_page, page = int(query.get("per_page", "10")), int(query.get("page", "1"))
        if not 1 <= per_page <= 100 or page < 1:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        gmt = query.get("dates_are_gmt") == "true"
        field = "date_modified_gmt" if query.get("orderby") == "modified" else "date_created_gmt"
        descending = query.get("order", "desc") == "desc"
        if (field, descending) not in self._sorted:
            self._sorted[(field, descending)] = sorted(self.orders.values(), key=lambda o: (o[field], o["id"]),
                                                       reverse=descending)
        orders = self._sorted[(field, descending)]
        if not self.ignores_modified_after:
            for name, keep in (("modified_after", lambda o, t: o > t), ("modified_before", lambda o, t: o < t)):
                if name in query:
                    bound = datetime.fromisoformat(query[name]).replace(tzinfo=UTC)
                    if not gmt:
                        bound -= SITE_OFFSET  # read in the site's zone
                    orders = [o for o in orders if keep(datetime.fromisoformat(o["date_modified_gmt"]).replace(
                        tzinfo=UTC), bound)]
        total = len(orders)
        pages = max(1, -(-total // per_page))
        chunk = orders[(page - 1) * per_page:page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if page < pages:
            rest = "&".join(f"{k}={_encode(v)}" for k, v in query.items() if k != "page" and not k.startswith("oauth"))
            headers["Link"] = f'<{self.base_url}{request.path}?{rest}&page={page + 1}>; rel="next"'
        return json_reply(200, chunk, **headers)


    def _products(self, request: Request, groups: dict[str, str]) -> Reply:
        query = request.query
        per_page = int(query.get("per_page", "10"))
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        wanted = [int(i) for i in query.get("include", "").split(",") if i.strip().isdigit()]
        found = [self.products[i] for i in sorted(set(wanted)) if i in self.products] if wanted \
            else sorted(self.products.values(), key=lambda p: p["id"])
        return json_reply(200, found[:per_page], **{"X-WP-Total": str(len(found))})


def _error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"code": code, "message": message, "data": {"status": status}})
