"""Bulk query operations for fake_shopify (docs/platforms.md §1.4).

An operation answers CREATED for `polls_per_status` polls, then RUNNING as many, then ends as its
`BulkOutcome` says: COMPLETED with a JSONL file (url null when nothing matched, as on Shopify),
FAILED (errorCode, and partialDataUrl to the first K lines when K > 0), EXPIRED or CANCELED (url
null). The file is rendered when the operation ends, from the orders as they are then: one line
per order with the selected fields (nested objects inline; no __parentId, as Order has no nested
connection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fake_shopify_data import Node, no_gc
from fake_shopify_gql import Field, GqlError, check, parse_document, project

ACTIVE = ("CREATED", "RUNNING")


@dataclass
class BulkOutcome:
    status: str = "COMPLETED"  # or FAILED, EXPIRED, CANCELED
    partial_lines: int = 0  # FAILED / CANCELED: lines in the partial file (0: partialDataUrl null)
    error_code: str | None = None  # FAILED: INTERNAL_SERVER_ERROR unless given


@dataclass
class BulkOp:
    number: int
    query: str
    search: str | None
    node_fields: list[Field]
    created_at: str
    outcome: BulkOutcome
    status: str = "CREATED"
    polls: int = 0
    completed_at: str | None = None
    data: bytes = b""
    partial: bytes = b""
    lines: int = 0
    # groupObjects: each order's line items right after it; else (the 2026-01 default) anywhere
    # after it, here all at the end of the file.
    grouped: bool = False

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.number}"

    def polled(self, polls_per_status: int) -> bool:
        """Counts a poll; True when the operation must end now."""
        self.polls += 1
        if self.status == "CREATED" and self.polls > polls_per_status:
            self.status = "RUNNING"
        return self.status == "RUNNING" and self.polls > 2 * polls_per_status

    def finish(self, nodes: list[Node], now: str) -> None:
        self.status, self.completed_at = self.outcome.status, now
        keep = len(nodes) if self.status == "COMPLETED" else self.outcome.partial_lines
        if self.status not in ("COMPLETED", "FAILED", "CANCELED"):
            keep = 0
        line_field = next((f for f in self.node_fields if f.name == "lineItems"), None)
        own = [f for f in self.node_fields if f.name != "lineItems"]
        children: list[bytes] = []
        with no_gc():
            lines = []
            for n in nodes[:keep]:
                lines.append(_line(project(n, own, "Order")))
                if line_field is not None:
                    edges = next((f for f in line_field.children or [] if f.name == "edges"), None)
                    item_fields = next((f.children or [] for f in (edges.children if edges else []) or []
                                        if f.name == "node"), [])
                    mine = [_line({**project(item, item_fields, "LineItem"), "__parentId": n["id"]})
                            for item in n.get("lineItems") or []]
                    if self.grouped:
                        lines += mine
                    else:
                        children += mine
            lines += children
        self.lines = len(lines)
        if self.status == "COMPLETED":
            self.data = b"".join(lines)
        else:
            self.partial = b"".join(lines)

    def view(self, base_url: str, running_count: int) -> dict[str, Any]:
        """The BulkOperation object (all fields; the caller projects the selection)."""
        done = self.status not in ACTIVE
        count = self.lines if done else 0 if self.status == "CREATED" else running_count
        url = f"{base_url}/bulk/{self.number}"
        return {"id": self.gid, "status": self.status, "type": "QUERY", "query": self.query,
                "errorCode": (self.outcome.error_code or "INTERNAL_SERVER_ERROR") if self.status == "FAILED" else None,
                "objectCount": str(count), "rootObjectCount": str(count),
                "fileSize": str(len(self.data or self.partial)) if self.data or self.partial else None,
                "url": f"{url}.jsonl?X-Goog-Signature=fake{self.number}" if self.data else None,
                "partialDataUrl": f"{url}-partial.jsonl?X-Goog-Signature=fake{self.number}" if self.partial else None,
                "createdAt": self.created_at, "completedAt": self.completed_at}


def _line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def parse_bulk_query(inner: str) -> tuple[Field | None, list[Field], list[str]]:
    """(the `orders` field, the node's fields, userErrors messages) of a bulk operation's query."""
    try:
        roots = parse_document(inner)[1]
    except GqlError as e:
        return None, [], [f"Invalid bulk query: {e}"]
    if len(roots) != 1 or roots[0].name != "orders":
        raise NotImplementedError(f"fake_shopify: bulk query on {[r.name for r in roots]}")
    fields = roots[0].children or []
    errors = [f"Invalid bulk query: {e['message']}" for e in check(fields, "OrderConnection")]
    edges = next((f.children or [] for f in fields if f.name == "edges"), [])
    node_fields = next((f.children or [] for f in fields + edges if f.name in ("nodes", "node")), [])
    if not errors and not node_fields:
        errors.append("Invalid bulk query: select the orders' nodes or edges { node }")
    return roots[0], node_fields, errors
