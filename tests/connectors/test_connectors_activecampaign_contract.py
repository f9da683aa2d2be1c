"""The ActiveCampaign sink against the sink contract, on the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from fake_activecampaign import TOKEN, FakeActiveCampaign
from rfmsync.connectors.activecampaign.config import ActiveCampaignSinkConfig
from rfmsync.connectors.activecampaign.sink import ActiveCampaignSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.testing import CUSTOMERS, Customer, Fault, SinkContract


class TestActiveCampaignSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeActiveCampaign]:
        # The contract's retries do not wait (fake sleeps), so the fake's 5-a-second limit, which
        # counts real time, is lifted here; tests/sync/test_sync_activecampaign.py keeps it.
        with FakeActiveCampaign(per_second=1000) as fake:
            yield fake

    def make_sink(self, platform: FakeActiveCampaign, retry: RetryPolicy) -> ActiveCampaignSink:
        config = ActiveCampaignSinkConfig(type="activecampaign", base_url=platform.base_url,
                                          api_token=TOKEN, tags=True, poll_seconds=0)  # type: ignore[arg-type]
        return ActiveCampaignSink(config, retry=retry)

    def prepare(self, platform: FakeActiveCampaign, customers: Sequence[Customer]) -> None:
        for customer in customers:
            if not any(c.email == customer.email for c in platform.contacts.values()):
                platform.add_contact(customer.email)

    def held(self, platform: FakeActiveCampaign) -> dict[str, str]:
        held = {}
        for customer in CUSTOMERS:
            contact = platform.by_email(customer.email)
            assert contact.fields["1"] == "green" and contact.lists == {"1": "active"}
            segment = platform.value(contact, "RFM_SEGMENT")
            tags = {t.removeprefix("RFM: ") for t in platform.tag_names(contact)}
            assert tags == ({segment} if segment else set()), "tags and the field must agree"
            if segment:
                held[customer.key] = segment
        assert platform.consent_writes == 0 and platform.tags_deleted == 0
        return held

    def cells(self, platform: FakeActiveCampaign) -> dict[str, str]:
        return {c.key: platform.value(platform.by_email(c.email), "RFM_CELL") or "" for c in CUSTOMERS}

    def requests(self, platform: FakeActiveCampaign) -> int:
        return platform.received

    def effects(self, platform: FakeActiveCampaign) -> int:
        return sum(len(f) + len(t) for f, t, _ in platform.snapshot().values()) + len(platform.links)

    def refused(self) -> Change:
        return Change("k-stranger", ChangeKind.ENTERED, None, "Champions", {"segment": "Champions", "rfm_cell": "555"},
                      email="no.contact@example.com")

    def inject(self, platform: FakeActiveCampaign, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, retry_after=fault.retry_after, body=fault.body)
        return True

    def secrets(self, platform: FakeActiveCampaign) -> list[str]:
        return [TOKEN]
