"""Backfills through Shopify Bulk Operations: one query for the whole history, a JSONL result.

Run `bulkOperationRunQuery`, poll that operation by id (`bulkOperation(id:)`, preferred from
2026-01 over `currentBulkOperation`, docs/platforms.md §0.7), then stream the result line by line into
pages; each page's position (operation id and lines consumed) commits with its orders, so an
interrupted backfill resumes mid-file while the result is still available (7 days, §1.4).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import requests
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.shopify.cursor import ShopifyCursor
from rfmsync.connectors.shopify.graphql import ShopifyGraphQL
from rfmsync.connectors.shopify.mapping import BULK_LINES, ORDER_FIELDS
from rfmsync.core.errors import PermanentError, TransientError
from rfmsync.core.stopping import pause

log = logging.getLogger("rfmsync.connectors.shopify")

# Lines per page, each committed with its resume position. Pages start small (an early Ctrl-C
# loses little) and double up to MAX_PAGE_LINES: every commit merges the page into the source's
# snapshot (sync/ledger_snapshots.py), so a million orders in 1,000-line pages would rewrite it
# a thousand times; doubling makes that about twenty.
PAGE_LINES = 1_000
MAX_PAGE_LINES = 64_000
# Bulk queries take no `first:` on connections (§1.4); groupObjects false is the 2026-01 default,
# set anyway for older pinned versions (lines in any order, no grouping work on Shopify's side).
# With order lines (line_categories), grouped: each order's line items follow it, so an order is
# complete when the next one starts and a page (and its resume point) ends between two orders;
# ungrouped, an order's lines could come anywhere later in the file (§1.4).
RUN_MUTATION = (
    'mutation { bulkOperationRunQuery(query: """{ orders%s { edges { node { %s } } } }""", '
    "groupObjects: %s) { bulkOperation { id status } userErrors { field message } } }"
)
POLL_QUERY = ("query BulkOperation($id: ID!) { bulkOperation(id: $id) { id status errorCode objectCount "
              "rootObjectCount fileSize url partialDataUrl } }")
FINISHED = {"COMPLETED", "FAILED", "EXPIRED", "CANCELED"}


class _ResultGone(Exception):
    """The result file answered 403/404: its signed URL expired."""


class BulkBackfill:
    def __init__(self, graphql: ShopifyGraphQL, http: HttpClient, source: str, *, poll_seconds: float,
                 sleep: Callable[[float], None] = pause, with_lines: bool = False) -> None:
        self._graphql, self._http, self._source = graphql, http, source
        self._with_lines = with_lines
        self._poll_seconds, self._sleep = poll_seconds, sleep
        self.downloads = 0

    def run(self, query: str | None, cursor: ShopifyCursor | None
            ) -> Iterator[tuple[list[dict[str, Any]], ShopifyCursor]]:
        """Pages of order nodes, each with the position to resume after it."""
        operation_id, skip = _resume_point(cursor, query)
        operation = self._find(operation_id) if operation_id else None
        if operation is None or not _resumable(operation):
            if operation_id:
                log.info("bulk operation %s is %s; starting a new one", operation_id,
                         operation["status"] if operation else "gone")
            operation_id, skip = self._start(query), 0
            operation = self._poll(operation_id)
        assert operation_id is not None
        while operation["status"] not in FINISHED:
            self._sleep(self._poll_seconds)
            operation = self._poll(operation_id)
        status = operation["status"]
        if status == "COMPLETED":
            try:
                yield from self._stream(operation.get("url"), operation_id, query, skip)
            except _ResultGone:
                if skip == 0:
                    raise TransientError(f"Shopify bulk result of operation {operation_id.rsplit('/', 1)[-1]} "
                                         "could not be downloaded (403/404); run the backfill again") from None
                # A resumed operation's signed URL expired (results last 7 days): start over.
                log.info("bulk result of %s expired; starting a new operation", operation_id)
                yield from self.run(query, None)
            return
        partial = operation.get("partialDataUrl")
        kept = 0
        if partial:
            for nodes, position in self._stream(partial, operation_id, query, skip):
                kept += len(nodes)
                yield nodes, position
        raise TransientError(f"Shopify bulk operation {operation_id.rsplit('/', 1)[-1]} ended {status} "
                             f"({operation.get('errorCode') or 'no error code'}); kept {kept} orders of its partial "
                             "result; run the backfill again for the rest")

    def _start(self, query: str | None) -> str:
        inner = f'(query: "{query}")' if query else ""
        fields = ORDER_FIELDS + (BULK_LINES if self._with_lines else "")
        data = self._graphql.execute(RUN_MUTATION % (inner, fields, "true" if self._with_lines else "false"), None,
                                     cost=10)
        result = data.get("bulkOperationRunQuery") or {}
        errors = result.get("userErrors") or []
        if errors:
            message = str(errors[0].get("message", ""))[:200]
            if "in progress" in message:
                raise TransientError(f"Shopify: another bulk query is running for this app and shop ({message})")
            raise PermanentError(f"Shopify refused the bulk query: {message}")
        operation_id = (result.get("bulkOperation") or {}).get("id")
        if not isinstance(operation_id, str):
            raise TransientError("Shopify: bulkOperationRunQuery returned no operation id")
        log.info("bulk operation %s started", operation_id)
        return operation_id

    def _find(self, operation_id: str) -> dict[str, Any] | None:
        data = self._graphql.execute(POLL_QUERY, {"id": operation_id}, cost=1)
        operation = data.get("bulkOperation")
        return operation if isinstance(operation, dict) else None

    def _poll(self, operation_id: str) -> dict[str, Any]:
        operation = self._find(operation_id)
        if operation is None:
            raise TransientError(f"Shopify: bulk operation {operation_id.rsplit('/', 1)[-1]} has disappeared")
        return operation

    def _stream(self, url: str | None, operation_id: str, query: str | None, skip: int
                ) -> Iterator[tuple[list[dict[str, Any]], ShopifyCursor]]:
        if not url:
            return  # a completed operation with no objects has no file
        self.downloads += 1
        # The URL is a signed storage link: no Shopify token goes with it.
        response = self._http.request("GET", url, stream=True, returned_statuses=(403, 404))
        if response.status_code in (403, 404):
            raise _ResultGone
        line_number = 0
        nodes: list[dict[str, Any]] = []
        page_lines = PAGE_LINES
        try:
            for raw in response.iter_lines():
                if not raw:
                    continue
                line_number += 1
                if line_number <= skip:
                    continue
                node = json.loads(raw)
                if not isinstance(node, dict):
                    continue
                if "__parentId" in node:
                    # Grouped: a line item of the order just read (any other child is not asked for).
                    if nodes and nodes[-1].get("id") == node["__parentId"]:
                        nodes[-1].setdefault("lineItems", {"nodes": []})["nodes"].append(node)
                    continue
                if len(nodes) >= page_lines:
                    # This order starts the next page: the ones before it are complete with their lines.
                    yield nodes, _position(operation_id, query, line_number - 1)
                    nodes, page_lines = [], min(2 * page_lines, MAX_PAGE_LINES)
                nodes.append(node)
        except (requests.RequestException, ValueError) as exc:
            raise TransientError(f"Shopify bulk result download broke off after line {line_number} "
                                 f"({type(exc).__name__}); the next backfill resumes there") from None
        finally:
            response.close()
        yield nodes, _position(operation_id, query, line_number)


def _resumable(operation: dict[str, Any]) -> bool:
    """Still running, or completed with its result file still there (or no objects at all)."""
    status = operation.get("status")
    if status == "COMPLETED":
        return bool(operation.get("url")) or not operation.get("objectCount")
    return status not in FINISHED


def _position(operation_id: str, query: str | None, line: int) -> ShopifyCursor:
    return ShopifyCursor(kind="bulk", id=operation_id, query=query, line=line)


def _resume_point(cursor: ShopifyCursor | None, query: str | None) -> tuple[str | None, int]:
    if cursor is not None and cursor.kind == "bulk" and cursor.query == query and cursor.id:
        return cursor.id, cursor.line
    return None, 0
