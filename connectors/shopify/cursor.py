"""Where a Shopify pull or bulk backfill resumes; the run loop stores it with the page's orders."""

from __future__ import annotations

from typing import Literal

from rfmsync.connectors.base import SourceCursor


class ShopifyCursor(SourceCursor):
    # "page": a paged pull; "bulk": a bulk operation's result file.
    kind: Literal["page", "bulk"]
    # The time filter the position belongs to: a position of another query is not resumed.
    query: str | None
    # page: the GraphQL endCursor to continue after; None once the pull finished (a next run whose
    # time filter came out the same must start over, not after the end).
    after: str | None = None
    # bulk: the operation's id and the JSONL lines already stored.
    id: str | None = None
    line: int = 0
