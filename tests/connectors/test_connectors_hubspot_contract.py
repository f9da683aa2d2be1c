"""The HubSpot sink against the sink contract, on the loopback HubSpot fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from fake_hubspot import TOKEN, FakeHubSpot
from rfmsync.connectors.hubspot.config import HubSpotSinkConfig
from rfmsync.connectors.hubspot.sink import HubSpotSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.testing import CUSTOMERS, Customer, Fault, SinkContract


class TestHubSpotSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeHubSpot]:
        with FakeHubSpot() as fake:
            yield fake

    def make_sink(self, platform: FakeHubSpot, retry: RetryPolicy) -> HubSpotSink:
        config = HubSpotSinkConfig(type="hubspot", access_token=TOKEN, base_url=platform.base_url,  # type: ignore[arg-type]
                                   list_prefix="RFM ")
        return HubSpotSink(config, retry=retry)

    def prepare(self, platform: FakeHubSpot, customers: Sequence[Customer]) -> None:
        for customer in customers:
            if not any(c.email == customer.email for c in platform.contacts.values()):
                platform.add_contact(customer.email, firstname="Ada")

    def held(self, platform: FakeHubSpot) -> dict[str, str]:
        held = {}
        for customer in CUSTOMERS:
            contact = platform.by_email(customer.email)
            assert contact.properties["firstname"] == "Ada"
            segment = contact.properties.get("rfm_segment")
            lists = {h.name.removeprefix("RFM ") for h in platform.lists.values() if contact.id in h.members}
            assert lists == ({segment} if segment else set()), "lists and the property must agree"
            if segment:
                held[customer.key] = segment
        assert platform.consent_writes == 0 and platform.created == 0
        return held

    def cells(self, platform: FakeHubSpot) -> dict[str, str]:
        return {c.key: platform.by_email(c.email).properties.get("rfm_cell", "") for c in CUSTOMERS}

    def requests(self, platform: FakeHubSpot) -> int:
        return platform.received

    def effects(self, platform: FakeHubSpot) -> int:
        contacts, lists = platform.snapshot()
        return len(contacts) + sum(len(m) for m in lists.values())

    def refused(self) -> Change:
        return Change("k-stranger", ChangeKind.ENTERED, None, "Champions", {"segment": "Champions", "rfm_cell": "555"},
                      email="no.contact@example.com")

    def inject(self, platform: FakeHubSpot, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, retry_after=fault.retry_after, body=fault.body)
        return True

    def secrets(self, platform: FakeHubSpot) -> list[str]:
        return [TOKEN]
