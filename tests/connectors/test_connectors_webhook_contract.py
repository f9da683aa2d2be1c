"""The webhook sink against the sink contract, with a receiver that verifies and de-duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_webhook import FakeWebhook
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.webhook.sink import WebhookSink, WebhookSinkConfig
from rfmsync.testing import Fault, SinkContract

SECRET = "whsec-contract-0123456789"


class TestWebhookSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeWebhook]:
        with FakeWebhook(SECRET) as hook:
            yield hook

    def make_sink(self, platform: FakeWebhook, retry: RetryPolicy) -> WebhookSink:
        return WebhookSink(WebhookSinkConfig(type="webhook", url=platform.url, secret=SECRET), retry=retry)

    def held(self, platform: FakeWebhook) -> dict[str, str]:
        return dict(platform.held)

    def cells(self, platform: FakeWebhook) -> dict[str, str]:
        return dict(platform.cells)

    def requests(self, platform: FakeWebhook) -> int:
        return platform.received

    def effects(self, platform: FakeWebhook) -> int:
        # A replay is delivered again with the same batch id; the receiver acts on each id once.
        return len(platform.batches)

    def inject(self, platform: FakeWebhook, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, body=fault.body, retry_after=fault.retry_after)
        return True

    def secrets(self, platform: Any) -> list[str]:
        return [SECRET, "s3cr3tpath"]  # the URL's path is often a webhook's only credential
