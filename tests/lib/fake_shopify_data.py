"""Orders for fake_shopify: Admin GraphQL Order nodes, the search filter and cursors.

- `OrderStore` keeps Order nodes (gid ids, ISO times at second precision, MoneyBags with string
  amounts) with an index on (updatedAt, id), so a page is a bisect even over 200,000 orders.
- `parse_search` reads the `query:` search string: `updated_at` / `created_at` with >=, >, <=, <.
  A quoted time ('...' or "...") is exact; an UNQUOTED one keeps only its date (00:00 UTC), as real
  Shopify ignores the time part of an unquoted datetime. Other terms are returned as ignored.
- Cursors are opaque like Shopify's: base64 of {"last_id", "last_value"}.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import contextlib
import gc
import json
import random
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from fake_shopify_gql import SCHEMA

ORDER_GID = "gid://shopify/Order/"
CUSTOMER_GID = "gid://shopify/Customer/"
TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"
INF = float("inf")

Bound = tuple[str, str, float]  # (field, op, unix time)
Node = dict[str, Any]


def iso(value: datetime | str) -> str:
    """A datetime or ISO string as Shopify writes it: UTC, seconds, `Z`."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give a timezone")
    return value.astimezone(UTC).strftime(TIME_FMT)


def unix(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def gid_number(value: int | str) -> int:
    return value if isinstance(value, int) else int(str(value).rsplit("/", 1)[-1])


def money(amount: str, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": currency},
            "presentmentMoney": {"amount": amount, "currencyCode": currency}}


def apply_fields(node: Node, fields: Mapping[str, Any]) -> Node:
    """Raw node fields, plus shortcuts: amount/currency (both MoneyBags), customer (number, gid, dict or
    None), customer_email (the customer's defaultEmailAddress, and the order email unless given)."""
    fields = dict(fields)
    for key in ("createdAt", "updatedAt", "processedAt", "cancelledAt"):
        if fields.get(key) is not None:
            fields[key] = iso(fields[key])
    if "amount" in fields or "currency" in fields:
        shop = node["currentTotalPriceSet"]["shopMoney"]
        bag = money(str(fields.pop("amount", shop["amount"])), fields.pop("currency", shop["currencyCode"]))
        node["currentTotalPriceSet"], node["totalPriceSet"] = bag, json.loads(json.dumps(bag))
    customer = fields.pop("customer", node["customer"])
    if customer is not None and not isinstance(customer, dict):
        customer = {"id": f"{CUSTOMER_GID}{gid_number(customer)}", "defaultEmailAddress": None}
    if "customer_email" in fields:
        email = fields.pop("customer_email")
        if customer is None:
            raise ValueError("customer_email needs a customer")
        customer = {**customer, "defaultEmailAddress": None if email is None else {"emailAddress": email}}
        fields.setdefault("email", email)
    node["customer"] = customer
    if "lines" in fields:
        # (amount, product type, taxonomy category name, quantity, current quantity) each.
        fields["lineItems"] = [
            {"id": f"gid://shopify/LineItem/{node['legacyResourceId']}{i}", "name": f"line {i}",
             "quantity": line[3] if len(line) > 3 else 1, "currentQuantity": line[4] if len(line) > 4 else
             (line[3] if len(line) > 3 else 1), "discountedTotalSet": money(str(line[0]), "EUR"),
             "product": None if line[1] is None and line[2] is None else {
                 "id": f"gid://shopify/Product/{i}", "productType": line[1] or "",
                 "category": {"id": "gid://shopify/TaxonomyCategory/x", "name": line[2], "fullName": line[2]}
                 if line[2] else None}}
            for i, line in enumerate(fields.pop("lines"))]
    unknown = set(fields) - set(SCHEMA["Order"])
    if unknown:
        raise ValueError(f"fields the fake does not model: {sorted(unknown)}")
    node.update(fields)
    return node


def new_order(number: int, now: str, fields: Mapping[str, Any]) -> Node:
    node: Node = {"id": f"{ORDER_GID}{number}", "legacyResourceId": str(number), "name": f"#{number}",
                  "createdAt": now, "updatedAt": None, "processedAt": None, "cancelledAt": None, "test": False,
                  "email": None, "sourceName": "web", "displayFinancialStatus": "PAID",
                  "currentTotalPriceSet": money("0.00", "EUR"), "totalPriceSet": money("0.00", "EUR"),
                  "customer": None, "lineItems": []}
    apply_fields(node, fields)
    node["updatedAt"] = node["updatedAt"] or node["createdAt"]
    node["processedAt"] = node["processedAt"] or node["createdAt"]
    return node


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Millions of young dicts: the cyclic collector would triple the time of making them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_STATUSES = ["PAID"] * 85 + ["PARTIALLY_REFUNDED"] * 4 + ["REFUNDED"] * 4 + ["PENDING"] * 3 + ["AUTHORIZED"] * 3 + [
    "VOIDED"]
_SOURCES = ["web"] * 16 + ["pos"] * 3 + ["shopify_draft_order"]


def _generate(first_number: int, n: int, customers: int, rng: random.Random, start: float, end: float,
              ) -> list[tuple[Node, float, float]]:
    """n orders numbered from first_number, created uniformly in [start, end) (unix seconds), with
    (node, updated, created); ~3 % guests, ~2 % cancelled, ~0.5 % test, ~5 % customers without email."""
    rand, span = rng.random, end - start
    fmt, gmtime = time.strftime, time.gmtime
    out: list[tuple[Node, float, float]] = []
    for number in range(first_number, first_number + n):
        created = int(start + rand() * span)
        updated = min(created + int(rand() ** 3 * 30 * 86400), int(end))
        created_s, updated_s = fmt(TIME_FMT, gmtime(created)), fmt(TIME_FMT, gmtime(updated))
        cents = 500 + int(rand() * 39_500)
        amount = f"{cents // 100}.{cents % 100:02d}"
        bag = {"shopMoney": {"amount": amount, "currencyCode": "EUR"},
               "presentmentMoney": {"amount": amount, "currencyCode": "EUR"}}
        customer = None
        email = None
        if rand() >= 0.03 and customers > 0:
            c = 1 + int(rand() * customers)
            email = None if rand() < 0.05 else f"customer{c}@example.com"
            customer = {"id": f"{CUSTOMER_GID}{c}",
                        "defaultEmailAddress": None if email is None else {"emailAddress": email}}
        status = _STATUSES[int(rand() * 100)]
        cancelled = rand() < 0.02
        if cancelled:
            status = "VOIDED" if status in ("PENDING", "AUTHORIZED") else "REFUNDED"
        node = {"id": f"{ORDER_GID}{number}", "legacyResourceId": str(number), "name": f"#{number}",
                "createdAt": created_s, "updatedAt": updated_s, "processedAt": created_s,
                "cancelledAt": updated_s if cancelled else None, "test": rand() < 0.005, "email": email,
                "sourceName": _SOURCES[int(rand() * 20)], "displayFinancialStatus": status,
                "currentTotalPriceSet": bag, "totalPriceSet": bag, "customer": customer}
        out.append((node, float(updated), float(created)))
    return out


def _passes(value: float, op: str, bound: float) -> bool:
    return (value >= bound if op == ">=" else value > bound if op == ">" else
            value <= bound if op == "<=" else value < bound)


class OrderStore:
    """Order nodes by number, with (updated, created) unix times and lazily rebuilt sort indexes."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.times: dict[int, tuple[float, float]] = {}
        self.next_number = 1001
        self._by_updated: list[tuple[float, int]] | None = None
        self._by_id: list[int] | None = None

    def put(self, node: Node, times: tuple[float, float] | None = None) -> Node:
        number = gid_number(node["id"])
        self.nodes[number] = node
        self.times[number] = times or (unix(node["updatedAt"]), unix(node["createdAt"]))
        self.next_number = max(self.next_number, number + 1)
        self._by_updated = self._by_id = None
        return node

    def add(self, now: str, fields: Mapping[str, Any]) -> Node:
        fields = dict(fields)
        return self.put(new_order(gid_number(fields.pop("id", self.next_number)), now, fields))

    def update(self, id: int | str, now: str, fields: Mapping[str, Any]) -> Node:
        return self.put(apply_fields(self.nodes[gid_number(id)], {"updatedAt": now, **fields}))

    def generate(self, n: int, customers: int, seed: int, start: float, end: float) -> list[Node]:
        with no_gc():
            made = _generate(self.next_number, n, customers, random.Random(seed), start, end)
            for node, updated, created in made:
                self.put(node, (updated, created))
            return [m[0] for m in made]

    def page(self, sort: str, after: tuple[float, int] | None, bounds: list[Bound], visible_from: float,
             first: int) -> tuple[list[Node], list[str], bool]:
        """(nodes, their cursors, hasNextPage) of one page; `after` from decode_cursor."""
        numbers, more = self.select(sort, after, bounds, visible_from, first)
        nodes = [self.nodes[n] for n in numbers]
        return nodes, [encode_cursor(n, node["updatedAt"] if sort == "UPDATED_AT" else n)
                       for n, node in zip(numbers, nodes, strict=True)], more

    def matching(self, bounds: list[Bound], visible_from: float) -> list[Node]:
        """Every visible order within the bounds, by id (a bulk operation's result)."""
        return [self.nodes[n] for n in self.select("ID", None, bounds, visible_from, None)[0]]

    def select(self, sort: str, after: tuple[float, int] | None, bounds: list[Bound], visible_from: float,
               limit: int | None) -> tuple[list[int], bool]:
        """Numbers matching the bounds, in sort order after `after`; and whether more follow `limit`."""
        lo = 0
        if sort == "UPDATED_AT":
            if self._by_updated is None:
                with no_gc():
                    self._by_updated = sorted((t[0], n) for n, t in self.times.items())
            index: list[Any] = self._by_updated
            hi = len(index)
            for field, op, t in bounds:
                if field == "updated_at":
                    if op in (">=", ">"):
                        lo = max(lo, bisect.bisect_left(index, (t, -INF) if op == ">=" else (t, INF)))
                    else:
                        hi = min(hi, bisect.bisect_left(index, (t, -INF) if op == "<" else (t, INF)))
            if after is not None:
                lo = max(lo, bisect.bisect_right(index, after))
        else:
            if self._by_id is None:
                self._by_id = sorted(self.nodes)
            index, hi = self._by_id, len(self._by_id)
            if after is not None:
                lo = bisect.bisect_right(index, after[1])
        out: list[int] = []
        for i in range(lo, hi):
            number = index[i][1] if sort == "UPDATED_AT" else index[i]
            updated, created = self.times[number]
            if created < visible_from or not all(
                    _passes(updated if f == "updated_at" else created, op, t) for f, op, t in bounds):
                continue
            if limit is not None and len(out) == limit:
                return out, True
            out.append(number)
        return out, False


_TERM = re.compile(r"""(\w+):(>=|<=|>|<)?('[^']*'|"[^"]*"|\S+)|(\S+)""")


def parse_search(query: str | None) -> tuple[list[Bound], list[str]]:
    """(bounds on updated_at/created_at, terms the fake ignored) of a search string."""
    bounds: list[Bound] = []
    ignored: list[str] = []
    for m in _TERM.finditer(query or ""):
        field, op, value, word = m.groups()
        if word is not None or field not in ("updated_at", "created_at") or op is None:
            if word != "AND":
                ignored.append(m.group(0))
            continue
        if value[0] in "'\"":
            when = datetime.fromisoformat(value[1:-1].replace("Z", "+00:00"))
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            bounds.append((field, op, when.timestamp()))
        else:  # unquoted: Shopify ignores the time part
            bounds.append((field, op, float(calendar.timegm(time.strptime(value[:10], "%Y-%m-%d")))))
    return bounds, ignored


def encode_cursor(number: int, last_value: str | int) -> str:
    return base64.b64encode(json.dumps({"last_id": number, "last_value": last_value}).encode()).decode()


def decode_cursor(cursor: str, sort: str) -> tuple[float, int] | None:
    """The (updated time or id, id) a cursor points after, or None if it is not one of this sort's."""
    try:
        data = json.loads(base64.b64decode(cursor, validate=True))
        number, value = int(data["last_id"]), data["last_value"]
        if sort == "UPDATED_AT":
            return (unix(value), number) if isinstance(value, str) else None
        return (float(number), number) if isinstance(value, int) else None
    except (ValueError, KeyError, TypeError):
        return None
