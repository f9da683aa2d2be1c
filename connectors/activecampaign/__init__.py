"""ActiveCampaign sink: the segment and RFM fields in custom fields, tags optional
(docs/platforms.md §8.2); there is no official Python SDK, requests go through the project's client."""

from __future__ import annotations

from rfmsync.connectors.activecampaign.config import ActiveCampaignSinkConfig
from rfmsync.connectors.base import Sink
from rfmsync.connectors.specs import BuildContext, SinkSpec


def _sink(config: ActiveCampaignSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.activecampaign.sink import ActiveCampaignSink

    return ActiveCampaignSink(config)


SINK = SinkSpec("activecampaign", ActiveCampaignSinkConfig, _sink, preview=True)
