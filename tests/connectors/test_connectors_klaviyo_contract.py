"""The Klaviyo sink against the sink contract, on the loopback Klaviyo fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from fake_klaviyo import KEY, FakeKlaviyo
from rfmsync.connectors.klaviyo.config import KlaviyoSinkConfig
from rfmsync.connectors.klaviyo.sink import KlaviyoSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.testing import CUSTOMERS, Customer, Fault, SinkContract


class TestKlaviyoSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeKlaviyo]:
        with FakeKlaviyo(polls_per_job=1) as fake:
            yield fake

    def make_sink(self, platform: FakeKlaviyo, retry: RetryPolicy) -> KlaviyoSink:
        config = KlaviyoSinkConfig(type="klaviyo", api_key=KEY, base_url=platform.base_url,  # type: ignore[arg-type]
                                   poll_seconds=0, list_prefix="RFM ")
        return KlaviyoSink(config, retry=retry)

    def prepare(self, platform: FakeKlaviyo, customers: Sequence[Customer]) -> None:
        for customer in customers:
            if not any(p.email == customer.email for p in platform.profiles.values()):
                platform.add_profile(customer.email, favourite_colour="green")

    def held(self, platform: FakeKlaviyo) -> dict[str, str]:
        held = {}
        for customer in CUSTOMERS:
            profile = platform.by_email(customer.email)
            assert profile.properties["favourite_colour"] == "green" and profile.subscriptions == "SUBSCRIBED"
            segment = profile.properties.get("rfm_segment")
            lists = {k.name.removeprefix("RFM ") for k in platform.lists.values() if profile.id in k.members}
            assert lists == ({segment} if segment else set()), "lists and the property must agree"
            if segment:
                held[customer.key] = segment
        return held

    def cells(self, platform: FakeKlaviyo) -> dict[str, str]:
        return {c.key: platform.by_email(c.email).properties.get("rfm_cell", "") for c in CUSTOMERS}

    def requests(self, platform: FakeKlaviyo) -> int:
        return platform.received

    def effects(self, platform: FakeKlaviyo) -> int:
        profiles, lists = platform.snapshot()
        return len(profiles) + sum(len(m) for m in lists.values())

    def refused(self) -> Change:
        return Change("k-stranger", ChangeKind.ENTERED, None, "Champions", {"segment": "Champions", "rfm_cell": "555"},
                      email="no.profile@example.com")

    def inject(self, platform: FakeKlaviyo, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, retry_after=fault.retry_after, body=fault.body)
        return True

    def secrets(self, platform: FakeKlaviyo) -> list[str]:
        return [KEY]
