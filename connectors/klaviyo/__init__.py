"""Klaviyo sink: RFM profile properties and list membership per segment (docs/platforms.md §5). The
klaviyo-api SDK is not used: it has no default timeout, a hidden retry that crashes on an
HTTP-date Retry-After, and sets global loggers (§5.5); requests go through the project's client."""

from __future__ import annotations

from rfmsync.connectors.base import Sink
from rfmsync.connectors.klaviyo.config import KlaviyoSinkConfig
from rfmsync.connectors.specs import BuildContext, SinkSpec


def _sink(config: KlaviyoSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.klaviyo.sink import KlaviyoSink

    return KlaviyoSink(config)


SINK = SinkSpec("klaviyo", KlaviyoSinkConfig, _sink, preview=True, segments=True)
