"""Shopify source: orders from the GraphQL Admin API, incrementally and, for backfills, in bulk.

- `pull`: `orders(first: 250, sortKey: UPDATED_AT, query: "updated_at:>='...'")`, paged by cursor;
  the run loop gives the time from its cursor less the look-back.
- `backfill`: a bulk operation (connectors/shopify/bulk.py) whose JSONL result is streamed.
- Auth: a static Admin API token, or client credentials exchanged for short-lived tokens.
Facts and sources: docs/platforms.md §1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from rfmsync.connectors.base import OrderColumns, OrderPage, RejectedRecord
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.shopify.bulk import BulkBackfill
from rfmsync.connectors.shopify.config import ShopifySourceConfig
from rfmsync.connectors.shopify.cursor import ShopifyCursor
from rfmsync.connectors.shopify.graphql import ShopifyGraphQL, TokenSource
from rfmsync.connectors.shopify.mapping import (
    LINE_PAGE_SIZE,
    LINES_PER_ORDER,
    ORDER_FIELDS,
    PAGED_LINES,
    columns_from_nodes,
    order_from_node,
)
from rfmsync.core.models import Order
from rfmsync.core.stopping import pause

log = logging.getLogger("rfmsync.connectors.shopify")

# Without read_all_orders, Shopify returns only the last 60 days of orders (§0.5).
HISTORY_LIMIT = timedelta(days=60)

ORDERS_QUERY = (
    "query Orders($first: Int!, $after: String, $query: String) { "
    "orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) { "
    "pageInfo { hasNextPage endCursor } nodes { %s } } }"
)


def time_filter(since: datetime | None) -> str | None:
    # Times must be quoted: unquoted, Shopify ignores the time part (docs/platforms.md §1.1).
    return None if since is None else f"updated_at:>='{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'"


class ShopifySource:
    cursor_model = ShopifyCursor

    def __init__(self, config: ShopifySourceConfig, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = pause, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.http = HttpClient(config.base_url or f"https://{config.shop}", retry=retry, origin="shopify")
        self.tokens = TokenSource(self.http, config.shop, access_token=config.access_token,
                                  client_id=config.client_id, client_secret=config.client_secret, clock=wall_clock)
        self.graphql = ShopifyGraphQL(self.http, config.shop, config.api_version, self.tokens, sleep=sleep,
                                      clock=clock)
        self.bulk = BulkBackfill(self.graphql, self.http, self.name, poll_seconds=config.bulk_poll_seconds,
                                 sleep=sleep, with_lines=config.line_categories)
        lines = config.line_categories
        self.query = ORDERS_QUERY % (ORDER_FIELDS + (PAGED_LINES if lines else ""))
        self.page_size = min(config.page_size, LINE_PAGE_SIZE) if lines else config.page_size
        # The worst case the client paces on; Shopify's own figure replaces it after the first answer.
        self.page_cost = self.page_size * ((3 + 5 * LINES_PER_ORDER) if lines else 1) + 2

    @property
    def name(self) -> str:
        return self.config.name or f"shopify:{self.config.shop.removesuffix('.myshopify.com')}"

    def close(self) -> None:
        self.http.close()

    def pull(self, since: datetime | None, until: datetime, cursor: ShopifyCursor | None) -> Iterator[OrderPage]:
        query = time_filter(since)
        after = _page_cursor(cursor, query)
        stats = _PullStats()
        while True:
            data = self.graphql.execute(self.query, {"first": self.page_size, "after": after, "query": query},
                                        cost=self.page_cost)
            orders = data.get("orders") or {}
            stats.cut_lines += sum(1 for node in orders.get("nodes") or [] if isinstance(node, dict) and
                                   ((node.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage"))
            page = [order_from_node(node, self.name) for node in orders.get("nodes") or []]
            info = orders.get("pageInfo") or {}
            more = bool(info.get("hasNextPage"))
            after = info.get("endCursor") or after
            # The position resumes an interrupted pull of the same query; after the last page it says
            # "finished" (after: null), or the next run, if its time filter came out the same, would
            # start after the end and miss every update.
            yield stats.page(page, ShopifyCursor(kind="page", query=query, after=after if more else None))
            if not more:
                break
        stats.report(self.config.shop, since, until)

    def backfill(self, since: datetime | None, until: datetime, cursor: ShopifyCursor | None
                 ) -> Iterator[OrderPage]:
        if not self.config.bulk_backfill:
            yield from self.pull(since, until, cursor)
            return
        stats = _PullStats()
        for nodes, position in self.bulk.run(time_filter(since), cursor):
            columns, rejects = columns_from_nodes(nodes, self.name)
            yield stats.columns_page(columns, rejects, position)
        stats.report(self.config.shop, since, until)


def _page_cursor(cursor: ShopifyCursor | None, query: str | None) -> str | None:
    """Resume an interrupted pull only when the saved page cursor belongs to this same query."""
    if cursor is not None and cursor.kind == "page" and cursor.query == query:
        return cursor.after
    return None


class _PullStats:
    """Counts for the messages after a pull: orders without email, how far back history went."""

    def __init__(self) -> None:
        self.orders = self.without_email = self.cut_lines = 0
        self.oldest: datetime | None = None

    def page(self, mapped: list[Order | RejectedRecord], position: ShopifyCursor) -> OrderPage:
        orders = [o for o in mapped if isinstance(o, Order)]
        rejects = [r for r in mapped if isinstance(r, RejectedRecord)]
        self.orders += len(orders)
        self.without_email += sum(1 for o in orders if not o.email)
        for o in orders:
            if self.oldest is None or o.created_at < self.oldest:
                self.oldest = o.created_at
        return OrderPage(orders, rejects, cursor=position)

    def columns_page(self, columns: OrderColumns | None, rejects: list[RejectedRecord],
                     position: ShopifyCursor) -> OrderPage:
        if columns is not None:
            self.orders += len(columns)
            self.without_email += int((columns.email == None).sum())  # noqa: E711 - elementwise on objects
            oldest = datetime.fromtimestamp(int(columns.created_utc.min()), UTC)
            if self.oldest is None or oldest < self.oldest:
                self.oldest = oldest
        return OrderPage(rejects=rejects, cursor=position, columns=columns)

    def report(self, shop: str, since: datetime | None, until: datetime) -> None:
        if self.cut_lines:
            log.warning("shop %s: %d orders have more than %d lines; only their first %d carry categories (a "
                        "backfill reads every line)", shop, self.cut_lines, LINES_PER_ORDER, LINES_PER_ORDER)
        if self.without_email:
            log.warning("shop %s: %d of %d orders came without an email: guest checkouts, or customer data "
                        "Shopify redacts unless the app has protected customer data access (Level 2)", shop,
                        self.without_email, self.orders)
        wanted_older = since is None or since < until - HISTORY_LIMIT
        if wanted_older and self.oldest is not None and self.oldest > until - HISTORY_LIMIT - timedelta(days=1):
            log.warning("shop %s: the oldest order Shopify returned is from %s, about 60 days ago: without the "
                        "read_all_orders scope Shopify returns only the last 60 days of orders", shop,
                        self.oldest.date().isoformat())
