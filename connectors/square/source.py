"""Square source: `POST /v2/orders/search` by `updated_at`, oldest change first (docs/platforms.md §3).

- Every active location unless `locations` names them, 10 per search (Square's maximum); the
  query is resent with each cursor, as Square requires, and the sort field is the filtered one.
- A page's resume point is (the pull's since, the location group, Square's cursor).
- `created_at` is the order's date (offline POS orders arrive days late; the 72-hour default
  look-back re-reads them); money is in the currency's smallest unit.
- Return orders (`returns[].source_order_id`) are negative orders of the sale's customer (the
  returns rule of docs/scoring.md); the sale is fetched when it was not in the same pull.
- A customer's email and phone come from the Customers API, 100 a call, kept in the state for
  `customer_cache_days`; orders without a customer are anonymous (kept, not scored).
- The squareup SDK is not used: its own retries would stack with the project's, and it runs on
  httpx (§3.5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from pydantic import ValidationError
from rfmsync.connectors.base import OrderPage, RejectedRecord, SinkMemory, SourceCursor, WebhookDelivery
from rfmsync.connectors.channels import square_channel
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.lookup_cache import LookupCache
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.square.config import SquareSourceConfig
from rfmsync.connectors.square.mapping import (
    STATES,
    catalog_ids,
    category_name,
    item_categories,
    lines_of,
    net_amount,
    source_order_id,
    when,
)
from rfmsync.connectors.webhook_signatures import json_object, square_valid
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from rfmsync.core.models import Order

log = logging.getLogger("rfmsync.connectors.square")
LOCATIONS_PER_SEARCH = 10
CUSTOMERS_PER_CALL = 100
CATALOG_PER_CALL = 1000  # BatchRetrieveCatalogObjects takes up to 1,000 ids
EPOCH = "2000-01-01T00:00:00Z"


class SquareCursor(SourceCursor):
    """Where a pull over orders updated from `since` stopped: the group of locations and Square's
    cursor in it; group None: that pull finished."""

    since: str
    group: int | None
    cursor: str | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SquareSource:
    cursor_model = SquareCursor

    def __init__(self, config: SquareSourceConfig, *, retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._clock = clock
        headers = {"Authorization": f"Bearer {config.access_token.get_secret_value()}",
                   "Square-Version": config.square_version}
        self.http = HttpClient(config.base_url.rstrip("/"), headers=headers, retry=self.retry,
                               timeout=(5.0, config.timeout_seconds), origin="square")
        self._customers = LookupCache("customer", config.customer_cache_days, clock)
        self._catalog = LookupCache("catalog", config.customer_cache_days, clock,
                                    optional="orders are read without line categories (needs ITEMS_READ)")
        self._sales: dict[str, str | None] = {}  # sale order id -> its customer id

    @property
    def name(self) -> str:
        return self.config.name or "square"

    def close(self) -> None:
        self.http.close()

    def attach_memory(self, memory: SinkMemory) -> None:
        self._customers.memory = self._catalog.memory = memory

    def pull(self, since: datetime | None, until: datetime, cursor: SquareCursor | None) -> Iterator[OrderPage]:
        start = _iso(since) if since is not None else EPOCH
        groups = self._location_groups()
        group, square_cursor = 0, None
        if cursor is not None and cursor.since == start:
            if cursor.group is None:
                return
            group, square_cursor = cursor.group, cursor.cursor
        while group < len(groups):
            body: dict[str, Any] = {"location_ids": groups[group], "limit": self.config.limit, "query": {
                "filter": {"date_time_filter": {"updated_at": {"start_at": start}}},
                "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}}
            if square_cursor:
                body["cursor"] = square_cursor
            answer = self._post("/v2/orders/search", body)
            nodes = [n for n in answer.get("orders") or [] if isinstance(n, dict)]
            square_cursor = answer.get("cursor") or None
            if square_cursor is None:
                group += 1
            following = SquareCursor(since=start, group=group if group < len(groups) else None, cursor=square_cursor)
            orders, rejects = self._map(nodes)
            yield OrderPage(orders, rejects, cursor=following)

    # -- orders ------------------------------------------------------------------------------------
    def _map(self, nodes: Sequence[Mapping[str, Any]]) -> tuple[list[Order], list[RejectedRecord]]:
        for node in nodes:
            if node.get("id") and source_order_id(node) is None:
                self._sales[str(node["id"])] = str(node["customer_id"]) if node.get("customer_id") else None
        missing = [s for n in nodes if (s := source_order_id(n)) and not n.get("customer_id") and s not in self._sales]
        if missing:
            self._load_sales(missing)
        customers = {str(n["customer_id"]) for n in nodes if n.get("customer_id")}
        customers |= {c for n in nodes if (s := source_order_id(n)) and (c := self._sales.get(s))}
        self._customers.load(sorted(customers), self._fetch_customers, CUSTOMERS_PER_CALL)
        self._catalog.load(sorted(catalog_ids(nodes)), self._fetch_categories, CATALOG_PER_CALL)
        orders: list[Order] = []
        rejects: list[RejectedRecord] = []
        for node in nodes:
            order_id = str(node.get("id") or "")
            try:
                state = STATES.get(str(node.get("state") or ""))
                if state is None:
                    raise ValueError("state")
                amount, currency = net_amount(node)
                returned = source_order_id(node)
                customer = str(node["customer_id"]) if node.get("customer_id") else (
                    self._sales.get(returned) if returned else None)
                email, phone = (self._customers.get(customer) or (None, None)) if customer else (None, None)
                orders.append(Order(source=self.name, order_id=order_id, customer_key=customer, email=email,
                                    phone=phone, created_at=when(node.get("created_at"), "created_at"),
                                    updated_at=when(node.get("updated_at"), "updated_at"), amount=amount,
                                    currency=currency, status=state,
                                    channel=square_channel((node.get("source") or {}).get("name")),
                                    channel_detail=str(node.get("location_id") or "") or None,
                                    lines=lines_of(node, lambda i: self._catalog.get(i) or ())))
            except ValidationError as exc:
                rejects.append(RejectedRecord(f"order {order_id}", "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), {"id": order_id}))
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                what = exc.args[0] if isinstance(exc, KeyError | ValueError) and exc.args else type(exc).__name__
                rejects.append(RejectedRecord(f"order {order_id}" if order_id else "order without an id",
                                              f"missing or malformed {str(what)[:60]!r}", {"id": order_id}))
        return orders, rejects

    # -- webhooks (issue 14) ----------------------------------------------------------------------
    def webhook_delivery(self, headers: Mapping[str, str], body: bytes, signature_key: str,
                         notification_url: str) -> WebhookDelivery:
        """An `order.created` / `order.updated` notification, verified, with its order read whole:
        Square's notification carries the order's id, state and version only, not its lines or
        customer (§3), so the order is fetched as a pull would map it."""
        if not square_valid(headers, body, signature_key, notification_url):
            raise AuthError("Square webhook: missing or wrong x-square-hmacsha256-signature", origin="square",
                            status=401)
        event = json_object(body)
        if event is None:
            return WebhookDelivery("unreadable", rejects=[RejectedRecord("webhook body", "not a JSON object")])
        event_id = str(event.get("event_id") or "")
        order_id = str((event.get("data") or {}).get("id") or "")
        if not str(event.get("type") or "").startswith("order.") or not order_id:
            return WebhookDelivery(event_id)  # another event type: nothing to score
        answer = self._post("/v2/orders/batch-retrieve", {"order_ids": [order_id]})
        orders, rejects = self._map([n for n in answer.get("orders") or [] if isinstance(n, dict)])
        return WebhookDelivery(event_id, orders=orders, rejects=rejects)

    def _load_sales(self, order_ids: Sequence[str]) -> None:
        for start in range(0, len(order_ids), 100):
            answer = self._post("/v2/orders/batch-retrieve", {"order_ids": list(order_ids[start:start + 100])})
            for node in answer.get("orders") or []:
                if isinstance(node, dict) and node.get("id"):
                    self._sales[str(node["id"])] = str(node["customer_id"]) if node.get("customer_id") else None

    # -- customers ---------------------------------------------------------------------------------
    def _fetch_customers(self, ids: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        answer = self._post("/v2/customers/bulk-retrieve", {"customer_ids": list(ids)})
        for customer, result in (answer.get("responses") or {}).items():
            profile = (result or {}).get("customer") if isinstance(result, dict) else None
            if isinstance(profile, dict):  # else deleted, or refused on its own: orders keep the id
                found[str(customer)] = [str(profile.get("email_address") or "").strip() or None,
                                        str(profile.get("phone_number") or "").strip() or None]
        return found

    # -- catalog -----------------------------------------------------------------------------------
    def _fetch_categories(self, variation_ids: Sequence[str]) -> dict[str, Any]:
        """Each item variation's category names: the variation names its item, the item its
        categories (`categories[].id`, or the older single `category_id`), which a second call names."""
        answer = self._post("/v2/catalog/batch-retrieve", {"object_ids": list(variation_ids),
                                                          "include_related_objects": True})
        objects = [o for o in (answer.get("objects") or []) + (answer.get("related_objects") or [])
                   if isinstance(o, dict)]
        by_id = {str(o.get("id")): o for o in objects}
        item_of = {str(o["id"]): str((o.get("item_variation_data") or {}).get("item_id") or "")
                   for o in objects if o.get("type") == "ITEM_VARIATION" and o.get("id")}
        category_ids = {vid: item_categories(by_id.get(item)) for vid, item in item_of.items()}
        names = {i: category_name(o) for i, o in by_id.items() if o.get("type") == "CATEGORY"}
        unnamed = sorted({c for ids in category_ids.values() for c in ids if c not in names})
        for start in range(0, len(unnamed), CATALOG_PER_CALL):
            more = self._post("/v2/catalog/batch-retrieve", {"object_ids": unnamed[start:start + CATALOG_PER_CALL]})
            names.update({str(o["id"]): category_name(o) for o in more.get("objects") or []
                          if isinstance(o, dict) and o.get("type") == "CATEGORY" and o.get("id")})
        return {vid: [names[c] for c in ids if names.get(c)] for vid, ids in category_ids.items()}

    # -- the API -----------------------------------------------------------------------------------
    def _location_groups(self) -> list[list[str]]:
        ids = self.config.locations
        if ids is None:
            answer = self._get("/v2/locations")
            ids = [str(loc["id"]) for loc in answer.get("locations") or []
                   if isinstance(loc, dict) and loc.get("id") and loc.get("status", "ACTIVE") == "ACTIVE"]
            if not ids:
                raise PermanentError("Square: the account has no active location", origin="square")
        return [ids[i:i + LOCATIONS_PER_SEARCH] for i in range(0, len(ids), LOCATIONS_PER_SEARCH)]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self.http.request("POST", path, json=body, returned_statuses=(400, 404)), path)

    def _get(self, path: str) -> dict[str, Any]:
        return self._answer(self.http.request("GET", path, returned_statuses=(400, 404)), path)

    @staticmethod
    def _answer(response: requests.Response, path: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise TransientError(f"Square: {path}: an answer that is not JSON", origin="square") from None
        if response.status_code >= 400:
            errors = body.get("errors") if isinstance(body, dict) else None
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            code, field = str(first.get("code") or "error"), str(first.get("field") or "")
            hint = " (check locations)" if "location" in field.lower() or code == "NOT_FOUND" else ""
            raise PermanentError(f"Square: {path}: HTTP {response.status_code} {code}"
                                 f"{' on ' + field if field else ''}{hint}", origin="square",
                                 status=response.status_code, code=code)
        if not isinstance(body, dict):
            raise TransientError(f"Square: {path}: an answer that is not a JSON object", origin="square")
        return body
