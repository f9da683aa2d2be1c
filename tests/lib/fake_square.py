"""A loopback fake of Square's Orders, Customers and Locations APIs where the source depends on
them (docs/platforms.md §3), on the kit.

    with FakeSquare() as square:                      # token "sq-token", locations L1 and L2
        square.add_customer("C1", email="ada@example.com")
        square.add_order("O1", location="L1", customer="C1", cents=2500, created=..., updated=...)

Strict where Square is: `location_ids` 1-10 and known, `limit` <= 1000, the sort field the same as
the filtered date field, a cursor only with the query it came from (400 otherwise), inclusive
`start_at`; money as integers; return orders with `returns[].source_order_id` (and often no
customer); `customers/bulk-retrieve` of 1-100 ids answering per id; errors as Square's list.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from rfmsync.testing.fakes import FakePlatform, Reply, Request, json_reply

TOKEN = "sq-token"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeSquare(FakePlatform):
    name = "fake_square"

    def __init__(self, *, locations: tuple[str, ...] = ("L1", "L2")) -> None:
        super().__init__()
        self.locations = list(locations)
        self.orders: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.customer_calls = 0
        self.catalog: dict[str, dict[str, Any]] = {}
        self._sorted: dict[tuple[str, bool], list[tuple[datetime, str]]] = {}  # cleared on every change
        self.route("GET", "/v2/locations", "locations", self._locations)
        self.route("POST", "/v2/orders/search", "search", self._search)
        self.route("POST", "/v2/orders/batch-retrieve", "batch-retrieve", self._batch)
        self.route("POST", "/v2/customers/bulk-retrieve", "customers", self._customers)
        self.route("POST", "/v2/catalog/batch-retrieve", "catalog", self._catalog)

    def add_item(self, item_id: str, variations: tuple[str, ...], *categories: str) -> None:
        """A catalog item in `categories` (created as CATEGORY objects) sold as `variations`."""
        with self.lock:
            for name in categories:
                self.catalog.setdefault(f"CAT-{name}", {"type": "CATEGORY", "id": f"CAT-{name}",
                                                         "category_data": {"name": name}})
            self.catalog[item_id] = {"type": "ITEM", "id": item_id, "item_data": {
                "name": item_id, "categories": [{"id": f"CAT-{name}"} for name in categories]}}
            for variation in variations:
                self.catalog[variation] = {"type": "ITEM_VARIATION", "id": variation,
                                           "item_variation_data": {"item_id": item_id, "name": "Regular"}}

    def add_customer(self, customer_id: str, *, email: str | None = None, phone: str | None = None) -> None:
        with self.lock:
            self.customers[customer_id] = {"id": customer_id, "email_address": email, "phone_number": phone}

    def add_order(self, order_id: str, *, location: str, cents: int, created: datetime, updated: datetime | None = None,
                  customer: str | None = None, state: str = "COMPLETED", currency: str = "EUR",
                  returns: str | None = None, returned_cents: int = 0, source_name: str | None = None,
                  lines: tuple[tuple[str, int], ...] = (), returned_lines: tuple[tuple[str, int], ...] = ()) -> None:
        """A sale, or with `returns` (the sale's id) a return order of `returned_cents` (and `cents` bought);
        `lines` and `returned_lines` are (catalog variation id, cents) each."""
        with self.lock:
            self._sorted.clear()
            node: dict[str, Any] = {"id": order_id, "location_id": location, "state": state,
                                    "created_at": _iso(created), "updated_at": _iso(updated or created),
                                    "total_money": {"amount": cents, "currency": currency}}
            if customer:
                node["customer_id"] = customer
            if source_name:
                node["source"] = {"name": source_name}
            if lines:
                node["line_items"] = [{"uid": f"{order_id}-{i}", "catalog_object_id": v, "quantity": "1",
                                       "total_money": {"amount": c, "currency": currency}}
                                      for i, (v, c) in enumerate(lines)]
            if returns:
                node["returns"] = [{"uid": f"r-{order_id}", "source_order_id": returns, "return_line_items": [
                    {"uid": f"{order_id}-r{i}", "catalog_object_id": v, "quantity": "1",
                     "total_money": {"amount": c, "currency": currency}} for i, (v, c) in enumerate(returned_lines)]}]
                node["return_amounts"] = {"total_money": {"amount": returned_cents, "currency": currency}}
            self.orders[order_id] = node

    def update(self, order_id: str, updated: datetime, **fields: Any) -> None:
        with self.lock:
            self._sorted.clear()
            self.orders[order_id].update(fields, updated_at=_iso(updated))

    def snapshot(self) -> Any:
        with self.lock:
            return json.dumps(self.orders, sort_keys=True)

    # -- the kit -----------------------------------------------------------------------------------
    def authorize(self, request: Request, kind: str) -> Reply | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized.")
        return None

    def error_reply(self, status: int, retry_after: float | None = None) -> Reply:
        reply = _error(status, "RATE_LIMIT_ERROR" if status == 429 else "API_ERROR",
                       "RATE_LIMITED" if status == 429 else "INTERNAL_SERVER_ERROR", "error")
        if retry_after is not None:
            reply.headers["Retry-After"] = f"{retry_after:g}"
        return reply

    # -- routes ------------------------------------------------------------------------------------
    def _locations(self, request: Request, groups: dict[str, str]) -> Reply:
        return json_reply(200, {"locations": [{"id": i, "name": f"Shop {i}", "status": "ACTIVE"}
                                              for i in self.locations]})

    def _search(self, request: Request, groups: dict[str, str]) -> Reply:
        body = request.json() or {}
        locations = body.get("location_ids")
        if not isinstance(locations, list) or not 1 <= len(locations) <= 10:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "1 to 10 location_ids", "location_ids")
        if any(loc not in self.locations for loc in locations):
            return _error(400, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Location not found", "location_ids")
        limit = int(body.get("limit", 500))
        if not 1 <= limit <= 1000:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "limit 1 to 1000", "limit")
        query = body.get("query") or {}
        date_filter = (query.get("filter") or {}).get("date_time_filter") or {}
        sort = (query.get("sort") or {}).get("sort_field", "CREATED_AT")
        field = next(iter(date_filter), "created_at")
        if date_filter and sort.lower() != field:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_SORT_ORDER",
                          "The sort field must match the date_time_filter field", "query.sort.sort_field")
        signature = hashlib.sha256(json.dumps([locations, query], sort_keys=True).encode()).hexdigest()[:12]
        offset = 0
        if body.get("cursor"):
            try:
                sig, number = base64.b64decode(body["cursor"]).decode().split(":")
            except ValueError:
                sig, number = "", "0"
            if sig != signature:
                return _error(400, "INVALID_REQUEST_ERROR", "INVALID_CURSOR", "the query must match the cursor's",
                              "cursor")
            offset = int(number)
        start_at = (date_filter.get(field) or {}).get("start_at")
        start = _parse(start_at) if start_at else None
        descending = (query.get("sort") or {}).get("sort_order", "DESC") == "DESC"
        if (field, descending) not in self._sorted:
            self._sorted[(field, descending)] = sorted(((_parse(o[field]), o["id"]) for o in self.orders.values()),
                                                       reverse=descending)
        wanted = set(locations)
        chosen = [self.orders[i] for at, i in self._sorted[(field, descending)]  # bounds are inclusive (§3.1)
                  if (start is None or at >= start) and self.orders[i]["location_id"] in wanted]
        page = chosen[offset:offset + limit]
        answer: dict[str, Any] = {"orders": page}
        if offset + limit < len(chosen):
            answer["cursor"] = base64.b64encode(f"{signature}:{offset + limit}".encode()).decode()
        return json_reply(200, answer)

    def _batch(self, request: Request, groups: dict[str, str]) -> Reply:
        ids = (request.json() or {}).get("order_ids") or []
        if not 1 <= len(ids) <= 100:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "1 to 100 order_ids", "order_ids")
        return json_reply(200, {"orders": [self.orders[i] for i in ids if i in self.orders]})

    def _customers(self, request: Request, groups: dict[str, str]) -> Reply:
        ids = (request.json() or {}).get("customer_ids") or []
        if not 1 <= len(ids) <= 100:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "1 to 100 customer_ids", "customer_ids")
        self.customer_calls += 1
        responses = {i: ({"customer": self.customers[i]} if i in self.customers else
                         {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND"}]}) for i in ids}
        return json_reply(200, {"responses": responses})


    def _catalog(self, request: Request, groups: dict[str, str]) -> Reply:
        body = request.json() or {}
        ids = body.get("object_ids") or []
        if not 1 <= len(ids) <= 1000:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "1 to 1000 object_ids", "object_ids")
        objects = [self.catalog[i] for i in ids if i in self.catalog]
        answer: dict[str, Any] = {"objects": objects}
        if body.get("include_related_objects"):
            # Objects the returned ones name by id: a variation's item, an item's categories.
            related = [str((o.get("item_variation_data") or {}).get("item_id") or "") for o in objects]
            related += [c["id"] for o in objects for c in (o.get("item_data") or {}).get("categories") or []]
            answer["related_objects"] = [self.catalog[i] for i in dict.fromkeys(related) if i in self.catalog]
        return json_reply(200, answer)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _error(status: int, category: str, code: str, detail: str, field: str | None = None) -> Reply:
    error: dict[str, Any] = {"category": category, "code": code, "detail": detail}
    if field:
        error["field"] = field
    return json_reply(status, {"errors": [error]})
