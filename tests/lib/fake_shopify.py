"""A loopback fake of Shopify's GraphQL Admin API (docs/platforms.md §1), for the Shopify source tests.

    with FakeShopify(now=datetime(2026, 11, 15, tzinfo=UTC), time_scale=0) as fake:
        fake.add_order(amount="55.00", customer=77, customer_email="ada@example.com")
        ... the connector with base_url=fake.base_url, sleep=fake.advance ...

Routes (base_url http://127.0.0.1:PORT stands in for https://{shop}.myshopify.com):
- POST /admin/oauth/access_token: client credentials grant (form body, or JSON).
- POST /admin/api/{version}/graphql.json with X-Shopify-Access-Token. Queries: `orders`,
  `bulkOperation(id:)`, `currentBulkOperation`, `shop`; mutation: `bulkOperationRunQuery`. Another
  root field, or a field outside fake_shopify_gql.SCHEMA, is a GraphQL `undefinedField` error.
- GET /bulk/{n}.jsonl?..., /bulk/{n}-partial.jsonl?...: bulk results, no auth, with Content-Length.

Costs: orders first+2 requested, nodes returned+2 actual; bulkOperationRunQuery 10; a poll or `shop` 1.
A request whose requested cost the bucket cannot cover is answered THROTTLED and charged nothing;
otherwise the requested cost is reserved and the difference to the actual cost refunded. Requests
refused before execution (bad arguments, unknown fields, bad cursor) cost nothing.

Clock: fake time = `now` (default: real now) + real monotonic seconds * `time_scale` + every
`advance(s)`. time_scale=0 is fully manual (hand the connector `sleep=fake.advance`). The bucket's
restore, token expiry, update_order's updatedAt and `history_days` all run on it.

Counters (plain attributes):
    requests            GraphQL POSTs received, every one (injected faults and 401s included)
    throttled           THROTTLED answers. Every request that arrived while the bucket could not cover
                        its requestedQueryCost got one; `requests_while_empty` is the same number
    throttled_in_a_row  THROTTLED answers right after another THROTTLED answer: one client retried
                        before waiting (requested - currentlyAvailable) / restoreRate
    min_available       lowest bucket level ever reached (the fake asserts it never goes below 0)
    points_charged, unauthorized, injected_failures, token_exchanges, token_exchange_failures,
    bulk_runs (accepted), bulk_rejected (already in progress), bulk_polls, bulk_downloads,
    bulk_bytes_served, versions_seen (set), searches (every search string received),
    ignored_search_terms, calls (list of Call: kind, status, variables, query)
    failures            fake-side errors (an unsupported request); `close()` / `__exit__` raise on them
"""

from __future__ import annotations

import collections
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fake_shopify_bulk import ACTIVE, BulkOp, BulkOutcome, parse_bulk_query
from fake_shopify_data import Node, OrderStore, decode_cursor, iso, parse_search
from fake_shopify_gql import Field, GqlError, arg, check, object_cost, parse_document, project
from rfmsync.core.clock import utc_now
from rfmsync.testing.fakes import FakePlatform, Fault, Reply, Request, json_reply

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
ACCESS_DENIED = "Access denied for orders field. Required access: `read_orders` access scope."
IN_PROGRESS = "A bulk query operation for this app and shop is already in progress"
RATE_DOC = "https://shopify.dev/api/usage/rate-limits"
EXPIRED_XML = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
               b"<Message>The provided token has expired.</Message></Error>")
BULK_COST, POLL_COST = 10, 1
Plan = tuple[int, Callable[[], tuple[dict[str, Any], int]]]  # requested cost; run -> (body, actual cost)


@dataclass
class Call:
    kind: str  # token, orders, bulk_run, bulk_poll, shop, download, unauthorized, fault, invalid
    status: int
    variables: dict[str, Any] | None = None
    query: str | None = None


class _Refused(Exception):
    """GraphQL errors found before execution: answered with HTTP 200 and nothing charged."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def _refuse(message: str, **extensions: Any) -> _Refused:
    return _Refused([{"message": message, "extensions": extensions}])


class FakeShopify(FakePlatform):
    name = "fake_shopify"

    def __init__(self, *, now: datetime | None = None, time_scale: float = 1.0,
                 maximum_available: float = 1000.0, restore_rate: float = 50.0,
                 throttle_status: int | str = 200, access_tokens: Iterable[str] = ("shpat_static",),
                 client_id: str = "fake-client-id", client_secret: str = "fake-client-secret",
                 token_ttl: int = 86399, history_days: int | None = None, access_denied_for_orders: bool = False,
                 bulk_polls_per_status: int = 2, bulk_concurrency: int = 1, shop: Mapping[str, str] | None = None,
                 ) -> None:
        super().__init__()
        self.started_at, self.time_scale = now or utc_now(), time_scale
        self._t0, self._offset = time.monotonic(), 0.0
        self.maximum_available, self.restore_rate = maximum_available, restore_rate
        self._available, self._refilled_at = maximum_available, 0.0
        self.throttle_status = throttle_status  # 200, 429 or "alternate" (200 first)
        self.access_tokens = set(access_tokens)  # static tokens that never expire
        self.client_id, self.client_secret, self.token_ttl = client_id, client_secret, token_ttl
        self.history_days, self.access_denied_for_orders = history_days, access_denied_for_orders
        self.scope = "read_orders" if history_days is not None else "read_orders,read_all_orders"
        self.bulk_polls_per_status, self.bulk_concurrency = bulk_polls_per_status, bulk_concurrency
        self.bulk_urls_expired = False
        self.shop = dict(shop or {"name": "Fake Shop", "myshopifyDomain": "fake-shop.myshopify.com",
                                  "currencyCode": "EUR", "ianaTimezone": "Europe/Berlin"})
        self.store = OrderStore()
        self.bulk_ops: dict[int, BulkOp] = {}
        self._issued: dict[str, float] = {}  # token -> expiry on the fake clock
        self._bulk_outcomes: collections.deque[BulkOutcome] = collections.deque()
        self._last_throttled = False
        self.throttled = self.throttled_in_a_row = self.unauthorized = 0
        self.token_exchanges = self.token_exchange_failures = 0
        self.bulk_runs = self.bulk_rejected = self.bulk_polls = self.bulk_downloads = self.bulk_bytes_served = 0
        self.points_charged, self.min_available = 0.0, maximum_available
        self.versions_seen: set[str] = set()
        self.searches: list[str] = []
        self.ignored_search_terms: list[str] = []
        self.calls: list[Call] = []
        self.route("POST", "/admin/oauth/access_token", "token",
                   lambda r, g: self._token(r.headers.get("Content-Type", ""), r.body))
        self.route("POST", "/admin/api/(?P<version>[^/]+)/graphql.json", "graphql", self._graphql_request)
        self.route("GET", "/bulk/[^/]+", "download", lambda r, g: self.get(r.target))

    # -- lifecycle -------------------------------------------------------------------------------
    def graphql_url(self, version: str = "2026-01") -> str:
        return f"{self.base_url}/admin/api/{version}/graphql.json"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/admin/oauth/access_token"

    @property
    def requests(self) -> int:
        """GraphQL POSTs received, every one (injected faults and 401s included)."""
        return self.received_by_kind["graphql"]

    @property
    def injected_failures(self) -> int:
        return self.faults.injected

    # -- clock and bucket ------------------------------------------------------------------------
    def elapsed(self) -> float:
        return (time.monotonic() - self._t0) * self.time_scale + self._offset

    @property
    def now(self) -> datetime:
        return self.started_at + timedelta(seconds=self.elapsed())

    def advance(self, seconds: float) -> None:
        """Moves the fake clock on: the bucket restores and tokens age by `seconds`."""
        with self.lock:
            self._offset += max(0.0, seconds)

    @property
    def available(self) -> float:
        """The bucket's level now (restored up to maximum_available)."""
        with self.lock:
            t = self.elapsed()
            self._available = min(self.maximum_available,
                                  self._available + (t - self._refilled_at) * self.restore_rate)
            self._refilled_at = t
            return self._available

    @property
    def requests_while_empty(self) -> int:
        """Requests that arrived when the bucket could not cover their requestedQueryCost (= throttled)."""
        return self.throttled

    def set_available(self, points: float) -> None:
        """Drains (or fills) the bucket to `points`."""
        with self.lock:
            _ = self.available
            self._available = points
            self.min_available = min(self.min_available, points)

    def _take(self, points: float) -> None:
        self._available -= points
        self.points_charged += points
        self.min_available = min(self.min_available, self._available)
        assert self._available >= -1e-9, f"fake_shopify: the bucket went below 0 ({self._available})"

    def _status(self) -> dict[str, float]:
        return {"maximumAvailable": float(self.maximum_available), "currentlyAvailable": math.floor(self.available),
                "restoreRate": float(self.restore_rate)}

    # -- data and faults -------------------------------------------------------------------------
    def add_order(self, **fields: Any) -> Node:
        """A new order. Any Order field (times as datetime or ISO string), plus shortcuts: id (number or
        gid, default the next from 1001), amount/currency, customer (number, gid, dict or None),
        customer_email (defaultEmailAddress, and the order's email unless given). See apply_fields."""
        with self.lock:
            return self.store.add(iso(self.now), fields)

    def update_order(self, id: int | str, **fields: Any) -> Node:
        """Changes an order; updatedAt moves to the fake's now unless given."""
        with self.lock:
            return self.store.update(id, iso(self.now), fields)

    def generate_orders(self, n: int, customers: int = 1000, seed: int = 0, *, start: datetime | None = None,
                        end: datetime | None = None) -> list[Node]:
        """n orders created uniformly between start (default end - 365 days) and end (default now),
        updated up to 30 days later (not after end); ~3 % guests, ~2 % cancelled, ~0.5 % test."""
        with self.lock:
            end = end or self.now
            start = start or end - timedelta(days=365)
            return self.store.generate(n, customers, seed, start.timestamp(), end.timestamp())

    def fail_next(self, status: int = 502, count: int = 1) -> None:
        """The next `count` GraphQL requests get `status` with an HTML body, like Shopify's edge."""
        self.faults.add(status, count, body="html", retry_after=1 if status == 429 else None, kind="graphql")

    def fail_at_request(self, k: int, status: int = 502) -> None:
        """GraphQL request number k (1-based, counting every one received) gets `status`."""
        self.faults.at_request(k, status, kind="graphql", body="html", retry_after=1 if status == 429 else None)

    def faulted(self, kind: str, fault: Fault) -> None:
        self.calls.append(Call("fault", fault.status))

    def unrouted(self, request: Request, kind: str) -> Reply:
        return json_reply(404, {"errors": "Not Found"})

    def next_bulk_outcome(self, status: str = "FAILED", *, partial_lines: int = 0,
                          error_code: str | None = None) -> None:
        """How the next bulk operation ends (queued, one per operation; the default is COMPLETED)."""
        with self.lock:
            self._bulk_outcomes.append(BulkOutcome(status, partial_lines, error_code))

    def expire_bulk_urls(self) -> None:
        """From now on every bulk result URL answers 403, as an expired signed URL does."""
        self.bulk_urls_expired = True

    # -- requests --------------------------------------------------------------------------------
    def _graphql_request(self, request: Request, groups: dict[str, str]) -> Reply:
        token, body = request.headers.get("X-Shopify-Access-Token"), request.body
        with self.lock:
            self.versions_seen.add(groups["version"])
            if not (token in self.access_tokens or self._issued.get(token or "", -1.0) > self.elapsed()):
                self.unauthorized += 1
                self.calls.append(Call("unauthorized", 401))
                return json_reply(401, {"errors": INVALID_TOKEN})
            try:
                payload = json.loads(body)
                query, variables = payload["query"], payload.get("variables") or {}
                operation, top = parse_document(query)
            except GqlError as e:
                self.calls.append(Call("invalid", 200))
                return json_reply(200, {"errors": [{"message": str(e), "extensions": {"code": "parseError"}}]})
            except (ValueError, KeyError, TypeError):
                self.calls.append(Call("invalid", 400))
                return json_reply(400, {"errors": {"query": "Required parameter missing or invalid"}})
            return self._graphql(operation, top, query, variables)

    def _token(self, content_type: str, body: bytes) -> Reply:
        try:
            if content_type.startswith("application/json"):
                form = {k: str(v) for k, v in json.loads(body).items()}
            else:
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        except (ValueError, AttributeError):
            form = {}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            answer = {"error": "invalid_client", "error_description": "Client authentication failed"}
        elif form.get("grant_type") != "client_credentials":
            answer = {"error": "unsupported_grant_type",
                      "error_description": "The authorization grant type is not supported"}
        else:
            self.token_exchanges += 1
            token = f"shpat_{secrets.token_hex(16)}"
            self._issued[token] = self.elapsed() + self.token_ttl
            self.calls.append(Call("token", 200))
            return json_reply(200, {"access_token": token, "scope": self.scope, "expires_in": self.token_ttl})
        self.token_exchange_failures += 1
        self.calls.append(Call("token", 400))
        return json_reply(400, answer)

    def _graphql(self, operation: str, top: list[Field], query: str, variables: dict[str, Any]) -> Reply:
        handlers: dict[str, tuple[str, Callable[[Field, dict[str, Any]], Plan]]] = {
            "bulkOperationRunQuery": ("bulk_run", self._bulk_run)} if operation == "mutation" else {
            "orders": ("orders", self._orders), "bulkOperation": ("bulk_poll", self._bulk_poll),
            "currentBulkOperation": ("bulk_poll", self._bulk_poll), "shop": ("shop", self._shop)}
        if len(top) != 1:
            raise NotImplementedError(f"fake_shopify: one root field per request, got {[f.name for f in top]}")
        kind, handler = handlers.get(top[0].name, ("invalid", None))
        call = Call(kind, 200, variables, query)
        self.calls.append(call)
        try:
            if handler is None:
                root = "Mutation" if operation == "mutation" else "QueryRoot"
                raise _refuse(f"Field '{top[0].name}' doesn't exist on type '{root}'", code="undefinedField",
                              typeName=root, fieldName=top[0].name)
            requested, run = handler(top[0], variables)
        except _Refused as e:
            return json_reply(200, {"errors": e.errors})
        if requested > self.maximum_available:
            return json_reply(200, {"errors": [{
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                           f"({self.maximum_available:g}).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                               "maxCost": self.maximum_available, "documentation": RATE_DOC}}]})
        level = self.available
        if level + 1e-6 < requested:  # the epsilon forgives float error in an exact back-off
            self.throttled += 1
            self.throttled_in_a_row += self._last_throttled
            self._last_throttled = True
            mode = self.throttle_status
            call.status = 429 if mode == 429 or (mode == "alternate" and self.throttled % 2 == 0) else 200
            cost = {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": self._status()}
            return json_reply(call.status, {"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": RATE_DOC}}], "extensions": {"cost": cost}},
                **({"Retry-After": "1"} if call.status == 429 else {}))
        self._last_throttled = False
        self._available = max(level, requested)
        self._take(requested)
        answer, actual = run()
        self._take(actual - requested)
        answer["extensions"] = {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                                         "throttleStatus": self._status()}}
        return json_reply(200, answer)

    def _checked(self, f: Field, type_name: str) -> list[Field]:
        errors = check(f.children or [], type_name)
        if errors:
            raise _Refused(errors)
        return f.children or []

    def _visible_from(self) -> float:
        return -math.inf if self.history_days is None else (self.now - timedelta(days=self.history_days)).timestamp()

    def _orders(self, f: Field, variables: dict[str, Any]) -> Plan:
        first, after, search = arg(f, "first", variables), arg(f, "after", variables), arg(f, "query", variables)
        sort = arg(f, "sortKey", variables) or "ID"
        if arg(f, "reverse", variables) or "last" in f.args or "before" in f.args or sort not in ("UPDATED_AT", "ID"):
            raise NotImplementedError(f"fake_shopify: orders{f.args} is not supported (reverse/last/before/sortKey)")
        if not isinstance(first, int):
            raise _refuse("you must provide one of first or last", code="BAD_REQUEST")
        if first > 250:
            raise _refuse("The first argument cannot exceed 250", code="MAX_PAGE_SIZE", argumentName="first")
        after_key = None if after is None else decode_cursor(after, sort)
        if after is not None and after_key is None:
            raise _refuse("Invalid cursor for current pagination sort.", code="BAD_REQUEST", argumentName="after")
        fields = self._checked(f, "OrderConnection")
        bounds, ignored = parse_search(search)
        self.searches.extend([search] if search is not None else [])
        self.ignored_search_terms.extend(ignored)

        def run() -> tuple[dict[str, Any], int]:
            if self.access_denied_for_orders:
                return {"errors": [{"message": ACCESS_DENIED, "path": [f.key],
                                    "extensions": {"code": "ACCESS_DENIED"}}], "data": None}, 1
            nodes, cursors, more = self.store.page(sort, after_key, bounds, self._visible_from(), first)
            raw = {"nodes": nodes, "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
                   "pageInfo": {"hasNextPage": more, "hasPreviousPage": after is not None,
                                "startCursor": cursors[0] if cursors else None,
                                "endCursor": cursors[-1] if cursors else None}}
            return {"data": {f.key: project(raw, fields, "OrderConnection")}}, len(nodes) + 2 + len(nodes) * lines
        # Orders themselves cost 1 each (as before); nested connections (lineItems) as Shopify counts them.
        node = next((c for c in fields if c.name in ("nodes", "edges")), None)
        node_fields = (node.children or []) if node is not None and node.name == "nodes" else next(
            (c.children or [] for c in (node.children or []) if c.name == "node"), []) if node is not None else []
        lines = object_cost([c for c in node_fields if c.name == "lineItems"], "Order")
        return first + 2 + first * lines, run

    def _bulk_run(self, f: Field, variables: dict[str, Any]) -> Plan:
        inner = arg(f, "query", variables)
        if not isinstance(inner, str):
            raise _refuse("Argument 'query' on Field 'bulkOperationRunQuery' is missing",
                          code="missingRequiredArguments")
        fields = self._checked(f, "BulkOperationRunQueryPayload")
        orders, node_fields, errors = parse_bulk_query(inner)
        if self.access_denied_for_orders:
            errors.append(ACCESS_DENIED)

        def run() -> tuple[dict[str, Any], int]:
            op = None
            if not errors and sum(op.status in ACTIVE for op in self.bulk_ops.values()) >= self.bulk_concurrency:
                errors.append(IN_PROGRESS)
                self.bulk_rejected += 1
            if orders is not None and not errors:
                self.bulk_runs += 1
                search = arg(orders, "query", variables)
                self.searches.extend([search] if search is not None else [])
                outcome = self._bulk_outcomes.popleft() if self._bulk_outcomes else BulkOutcome()
                op = BulkOp(len(self.bulk_ops) + 1, inner, search, node_fields, iso(self.now), outcome,
                            grouped=arg(f, "groupObjects", variables) is True)
                self.bulk_ops[op.number] = op
            raw = {"bulkOperation": op and op.view(self.base_url, 0),
                   "userErrors": [{"field": None if m == IN_PROGRESS else ["query"], "message": m} for m in errors]}
            return {"data": {f.key: project(raw, fields, "BulkOperationRunQueryPayload")}}, BULK_COST
        return BULK_COST, run

    def _bulk_poll(self, f: Field, variables: dict[str, Any]) -> Plan:
        fields = self._checked(f, "BulkOperation")
        if f.name == "bulkOperation":
            number = str(arg(f, "id", variables)).removeprefix("gid://shopify/BulkOperation/")
            op = self.bulk_ops.get(int(number)) if number.isdigit() else None
        else:
            op = self.bulk_ops[max(self.bulk_ops)] if self.bulk_ops else None

        def run() -> tuple[dict[str, Any], int]:
            self.bulk_polls += 1
            if op is not None and op.status in ACTIVE and op.polled(self.bulk_polls_per_status):
                bounds, ignored = parse_search(op.search)
                self.ignored_search_terms.extend(ignored)
                op.finish(self.store.matching(bounds, self._visible_from()), iso(self.now))
            view = op and op.view(self.base_url, len(self.store.nodes) // 2)
            return {"data": {f.key: project(view, fields, "BulkOperation")}}, POLL_COST
        return POLL_COST, run

    def _shop(self, f: Field, variables: dict[str, Any]) -> Plan:
        fields = self._checked(f, "Shop")
        return 1, lambda: ({"data": {f.key: project(self.shop, fields, "Shop")}}, 1)

    def get(self, path: str) -> Reply:
        with self.lock:
            name = urlsplit(path).path.removeprefix("/bulk/")
            stem, partial = name.removesuffix(".jsonl").removesuffix("-partial"), name.endswith("-partial.jsonl")
            op = self.bulk_ops.get(int(stem)) if name.endswith(".jsonl") and stem.isdigit() else None
            data = None if op is None else op.partial if partial else op.data
            status = 404 if not data else 403 if self.bulk_urls_expired else 200
            self.calls.append(Call("download", status))
            if status == 404:
                return Reply(404, b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>",
                             "application/xml")
            if status == 403:
                return Reply(403, EXPIRED_XML, "application/xml")
            self.bulk_downloads += 1
            return Reply(200, data or b"", "application/jsonl")

    def served(self, n: int) -> None:
        with self.lock:
            self.bulk_bytes_served += n
