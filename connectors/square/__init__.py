"""Square source: point-of-sale orders by updated_at with a 72-hour look-back, return orders as
negative orders, customers' email and phone from the Customers API (docs/platforms.md §3)."""

from __future__ import annotations

from typing import Any

from rfmsync.connectors.base import Source
from rfmsync.connectors.specs import BuildContext, SourceSpec
from rfmsync.connectors.square.config import SquareSourceConfig


def _source(config: SquareSourceConfig, context: BuildContext) -> Source[Any]:
    from rfmsync.connectors.square.source import SquareSource

    return SquareSource(config)


SOURCE = SourceSpec("square", SquareSourceConfig, _source)
