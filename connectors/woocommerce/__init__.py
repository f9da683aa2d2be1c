"""WooCommerce source: REST v3 orders by modified_after, guests by billing email, refunds netted
(docs/platforms.md §2)."""

from __future__ import annotations

from typing import Any

from rfmsync.connectors.base import Source
from rfmsync.connectors.specs import BuildContext, SourceSpec
from rfmsync.connectors.woocommerce.config import WooCommerceSourceConfig


def _source(config: WooCommerceSourceConfig, context: BuildContext) -> Source[Any]:
    from rfmsync.connectors.woocommerce.source import WooCommerceSource

    return WooCommerceSource(config)


SOURCE = SourceSpec("woocommerce", WooCommerceSourceConfig, _source)
