"""Meta custom audiences sink: one customer-file audience per segment, hashed members, changes only
(docs/platforms.md §6). The facebook-business SDK is not used: it has no timeout or retry, treats
some 5xx answers as success and puts the token in URLs (§6.7); requests go through the project's
HTTP client with the token in the Authorization header."""

from __future__ import annotations

from rfmsync.connectors.base import Sink
from rfmsync.connectors.meta.config import MetaSinkConfig
from rfmsync.connectors.specs import BuildContext, SinkSpec


def _sink(config: MetaSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.meta.sink import MetaSink

    return MetaSink(config, consent_required=context.ad_consent_required)


SINK = SinkSpec("meta", MetaSinkConfig, _sink, preview=True, segments=True)
