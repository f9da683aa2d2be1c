"""HubSpot sink: RFM contact properties (batch upsert by email) and MANUAL list membership per
segment (docs/platforms.md §8.1). The hubspot-api-client SDK is not used: it has no timeout or
retry by default, hides 207 partial failures and calls only the legacy paths (§8.1)."""

from __future__ import annotations

from rfmsync.connectors.base import Sink
from rfmsync.connectors.hubspot.config import HubSpotSinkConfig
from rfmsync.connectors.specs import BuildContext, SinkSpec


def _sink(config: HubSpotSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.hubspot.sink import HubSpotSink

    return HubSpotSink(config)


SINK = SinkSpec("hubspot", HubSpotSinkConfig, _sink, preview=True, segments=True)
