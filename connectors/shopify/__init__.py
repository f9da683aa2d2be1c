"""Shopify source: orders from the GraphQL Admin API (docs/platforms.md §1).

The ShopifyAPI SDK is used only for the versioned admin path (`shopify.Session(...).site`, which
validates the API version: graphql.py `admin_path`). Every request goes through the project's HTTP
client (connectors/http_client.py): the SDK's `GraphQL().execute()` uses urllib with no timeout,
prints error bodies to stdout and returns a raw string (docs/platforms.md §0.8).
"""

from __future__ import annotations

from typing import Any

from rfmsync.connectors.base import Source
from rfmsync.connectors.shopify.config import ShopifySourceConfig
from rfmsync.connectors.specs import BuildContext, SourceSpec


def _source(config: ShopifySourceConfig, context: BuildContext) -> Source[Any]:
    from rfmsync.connectors.shopify.source import ShopifySource

    return ShopifySource(config)


SOURCE = SourceSpec("shopify", ShopifySourceConfig, _source, backfill=True)
