"""Webhook sink: each batch of changes as one signed JSON POST (Zapier, Make, n8n, your own code).

No SDK: requests through the project's HTTP client.
"""

from __future__ import annotations

from rfmsync.connectors.base import Sink
from rfmsync.connectors.specs import BuildContext, SinkSpec
from rfmsync.connectors.webhook.config import WebhookSinkConfig


def _sink(config: WebhookSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.webhook.sink import WebhookSink

    return WebhookSink(config)


SINK = SinkSpec("webhook", WebhookSinkConfig, _sink)
